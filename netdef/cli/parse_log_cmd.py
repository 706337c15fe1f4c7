"""Parse a training log into CSV tables, as Caffe's tools/extra/parse_log.py does.

Example: netdef parse-log caffe.log out/
writes out/caffe.log.train and out/caffe.log.test with the columns
NumIters,Seconds,LearningRate,<each output>: one row per displayed training
iteration (its `Train net output` values) and one per test (its `Test net
output` values); Seconds count from the "Solving" line. Reads logs written by
real Caffe or by netdef, with either glog prefix (`I1129 18:01:57.377` or
glog 0.6's `I20261129 18:01:57.377`), and netdef's JSONL log. The tables are
written through temporary files, so a failure leaves earlier ones whole.
"""
from __future__ import annotations


def add_arguments(ap) -> None:
    ap.add_argument("logfile_path", metavar="LOGFILE", help="training log (glog text, or netdef's .jsonl)")
    ap.add_argument("output_dir", metavar="OUTDIR", nargs="?", default=None,
                    help="folder for the .train and .test tables (default: the log's folder)")
    ap.add_argument("--delimiter", default=",", help="column delimiter in the tables (default: ',')")
    ap.add_argument("--verbose", action="store_true", help="print the names of the files written")


def run(args) -> int:
    from netdef.logs import parse_log_to_tables

    for path in parse_log_to_tables(args.logfile_path, args.output_dir, args.delimiter):
        if args.verbose:
            print(f"Wrote {path}")
    return 0
