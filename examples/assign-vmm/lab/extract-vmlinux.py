#!/usr/bin/env python3
# extract-vmlinux.py BZIMAGE OUT
#
# Writes the uncompressed ELF vmlinux inside an x86 bzImage, found through
# the setup header (payload_offset and payload_length, boot protocol 2.08+).
# gzip, xz and lzma payloads (Python's standard library), and zstd through
# the zstd program (Debian's 6.12 kernels); exits 1 with a message
# otherwise. assign-vmm boots the result without the decompressor.
import gzip
import lzma
import shutil
import struct
import subprocess
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract-vmlinux.py BZIMAGE OUT")
    img = open(sys.argv[1], "rb").read()
    if len(img) < 0x270 or img[0x202:0x206] != b"HdrS":
        sys.exit(f"{sys.argv[1]}: not a bzImage (no HdrS header)")
    version = struct.unpack_from("<H", img, 0x206)[0]
    if version < 0x0208:
        sys.exit(f"{sys.argv[1]}: boot protocol {version:#x} has no payload fields")
    setup_sects = img[0x1F1] or 4
    off, length = struct.unpack_from("<II", img, 0x248)
    start = (setup_sects + 1) * 512 + off
    payload = img[start:start + length]
    if payload[:2] == b"\x1f\x8b":
        out = gzip.decompress(payload)
    elif payload[:6] == b"\xfd7zXZ\x00":
        # the kernel appends the uncompressed size after the xz stream
        out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload[:3] == b"\x5d\x00\x00":
        out = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(payload)
    elif payload[:4] == b"\x28\xb5\x2f\xfd" and shutil.which("zstd"):
        # the kernel appends the uncompressed size after the frame
        out = subprocess.run(["zstd", "-d", "-c", "-q"], input=payload[:-4],
                             stdout=subprocess.PIPE, check=True).stdout
    else:
        sys.exit(f"{sys.argv[1]}: payload compressed with an unsupported "
                 f"method (magic {payload[:4].hex()}); use the bzImage")
    if out[:4] != b"\x7fELF":
        sys.exit(f"{sys.argv[1]}: payload is not an ELF vmlinux")
    with open(sys.argv[2], "wb") as f:
        f.write(out)


main()
