"""Write a ResNet prototxt in Caffe's style (Convolution + BatchNorm + Scale + ReLU,
Eltwise shortcuts), e.g. the ~500-layer ResNet-152 that bench/bench_shapes.py times.

    python tools/make_resnet.py --depth 152 -o resnet152.prototxt
"""
import argparse
import sys

STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def conv_bn(out, name, bottom, num_output, kernel, stride=1, pad=0, relu=True):
    out.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"\n'
               f'  convolution_param {{ num_output: {num_output} kernel_size: {kernel} stride: {stride} '
               f'pad: {pad} bias_term: false weight_filler {{ type: "msra" }} }} }}\n')
    out.append(f'layer {{ name: "bn_{name}" type: "BatchNorm" bottom: "{name}" top: "{name}" }}\n')
    out.append(f'layer {{ name: "scale_{name}" type: "Scale" bottom: "{name}" top: "{name}" '
               f'scale_param {{ bias_term: true }} }}\n')
    if relu:
        out.append(f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" top: "{name}" }}\n')
    return name


def block(out, name, bottom, width, stride, project):
    a = conv_bn(out, f"{name}_branch2a", bottom, width, 1, stride)
    b = conv_bn(out, f"{name}_branch2b", a, width, 3, 1, 1)
    c = conv_bn(out, f"{name}_branch2c", b, 4 * width, 1, relu=False)
    shortcut = conv_bn(out, f"{name}_branch1", bottom, 4 * width, 1, stride, relu=False) if project else bottom
    out.append(f'layer {{ name: "{name}" type: "Eltwise" bottom: "{shortcut}" bottom: "{c}" top: "{name}" }}\n')
    out.append(f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" top: "{name}" }}\n')
    return name


def resnet(depth: int, batch: int = 1) -> str:
    out = [f'name: "ResNet-{depth}"\n',
           f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: {batch} dim: 3 dim: 224 dim: 224 }} }} }}\n']
    x = conv_bn(out, "conv1", "data", 64, 7, 2, 3)
    out.append('layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" '
               'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n')
    x = "pool1"
    for s, blocks in enumerate(STAGES[depth]):
        for i in range(blocks):
            stride = 2 if i == 0 and s > 0 else 1
            x = block(out, f"res{s + 2}_{i}", x, 64 * 2 ** s, stride, project=(i == 0))
    out.append(f'layer {{ name: "pool5" type: "Pooling" bottom: "{x}" top: "pool5" '
               'pooling_param { pool: AVE global_pooling: true } }\n')
    out.append('layer { name: "fc1000" type: "InnerProduct" bottom: "pool5" top: "fc1000" '
               'inner_product_param { num_output: 1000 } }\n')
    out.append('layer { name: "prob" type: "Softmax" bottom: "fc1000" top: "prob" }\n')
    return "".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=152, choices=sorted(STAGES))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args(argv)
    text = resnet(args.depth, args.batch)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
