"""Reading Caffe's data sources, without torch (except pipeline.py, which the torch forward loads).

    db.py         LMDB / LevelDB, read-only, in key order (Caffe's cursor)
    datum.py      Datum records -> (C, H, W) arrays (decoded if encoded)
    image.py      OpenCV decoding (colour / gray / native), cv::resize, cv::imencode
    mean.py       mean files (.binaryproto)
    transform.py  Caffe's DataTransformer: crop, mean, scale, mirror
    lists.py      image lists, HDF5 file lists, window files
    hdf5.py       HDF5Data datasets
    sources.py    one reader per layer type, shared by shapes and the torch forward
    feed.py       a batch as a pure function of (seed, batch index): any process can make it
    pipeline.py   worker processes that make batches ahead of the net (torch DataLoader)
    probe.py      the shape rule used when a source is absent
    paths.py      where relative paths are looked up (cwd, then the prototxt's folder)
    convert.py    Caffe's convert_imageset and compute_image_mean, as library calls
    dbwrite.py    writing a new LMDB / LevelDB, published under its name only when complete
"""
