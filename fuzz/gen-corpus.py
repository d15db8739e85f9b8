#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the hand-made seed inputs of fuzz/corpus/<target>/.

The seeds are small, valid, real-looking inputs (what a kernel, a device
or a user would really hand the library), so the fuzzers start from deep
inside the formats instead of rediscovering them. Run from anywhere; the
files are committed, so this only needs re-running when a format changes.
Each target's input layout is described at the top of fuzz/<target>.c.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def le(fmt, *v):
    return struct.pack("<" + fmt, *v)


# --- VFIO info buffers, laid out as the kernel lays them out ---------------

def cap_hdr(cid, ver, nxt):
    return le("HHI", cid, ver, nxt)


def region_info(index, size, flags, sparse=(), msix_mappable=False,
                rtype=None, offset=None):
    """struct vfio_region_info (32 bytes) + capability chain."""
    caps = []
    if sparse:
        body = le("II", len(sparse), 0)
        for off, sz in sparse:
            body += le("QQ", off, sz)
        caps.append((1, 1, body))           # VFIO_REGION_INFO_CAP_SPARSE_MMAP
    if rtype is not None:
        caps.append((2, 1, le("II", *rtype)))  # VFIO_REGION_INFO_CAP_TYPE
    if msix_mappable:
        caps.append((3, 1, b""))            # VFIO_REGION_INFO_CAP_MSIX_MAPPABLE
    chain, off = b"", 32
    for i, (cid, ver, body) in enumerate(caps):
        nxt = off + 8 + len(body) if i + 1 < len(caps) else 0
        chain += cap_hdr(cid, ver, nxt) + body
        off += 8 + len(body)
    if caps:
        flags |= 1 << 3                     # VFIO_REGION_INFO_FLAG_CAPS
    if offset is None:
        offset = index << 40                # vfio-pci's fd offset scheme
    argsz = 32 + len(chain)
    return le("IIIIQQ", argsz, flags, index, 32 if caps else 0, size,
              offset) + chain


def iommu_info(pgsizes, ranges, dma_avail=None, migration=False):
    """struct vfio_iommu_type1_info (24 bytes) + capability chain."""
    caps = []
    body = le("II", len(ranges), 0)
    for s, e in ranges:
        body += le("QQ", s, e)
    caps.append((1, 1, body))               # CAP_IOVA_RANGE
    if migration:                           # CAP_MIGRATION
        caps.append((2, 1, le("IIQQ", 1, 0, pgsizes, 1 << 30)))
    if dma_avail is not None:               # CAP_DMA_AVAIL
        caps.append((3, 1, le("II", dma_avail, 0)))
    chain, off = b"", 24
    for i, (cid, ver, body) in enumerate(caps):
        nxt = off + 8 + len(body) if i + 1 < len(caps) else 0
        chain += cap_hdr(cid, ver, nxt) + body
        off += 8 + len(body)
    return le("IIQII", 24 + len(chain), 3, pgsizes, 24, 0) + chain


RW, MMAP = 0x3, 0x4
PG = 4096 | (1 << 21) | (1 << 30)
X86 = [(0, 0xfedfffff), (0xfef00000, (1 << 48) - 1)]

nic_bar0 = region_info(0, 0x20000, RW | MMAP,
                       sparse=[(0, 0x2000), (0x3000, 0x1d000)])
nvme_bar0 = region_info(0, 0x4000, RW | MMAP, msix_mappable=True)
igd_opregion = region_info(9, 0x2000, 0x1, rtype=(0x80008086, 3))
config = region_info(7, 4096, RW)
type1 = iommu_info(PG, X86, dma_avail=65535, migration=True)


def caps_seed(minsz, first, cid, cap_size, buf):
    return le("BIHB", minsz, first, cid, cap_size) + buf


put("fuzz-vfio-caps", "region-nic-sparse",
    caps_seed(32, 32, 1, 16 + 2 * 16, nic_bar0))
put("fuzz-vfio-caps", "region-nvme-msix-mappable",
    caps_seed(32, 32, 3, 8, nvme_bar0))
put("fuzz-vfio-caps", "region-igd-type", caps_seed(32, 32, 2, 16, igd_opregion))
put("fuzz-vfio-caps", "iommu-type1-info", caps_seed(24, 24, 3, 12, type1))
put("fuzz-vfio-caps", "no-caps", caps_seed(32, 0, 1, 16, config))
# A loop: the second cap points back at the first.
loop = bytearray(nic_bar0) + bytearray(8)
struct.pack_into("<I", loop, 32 + 4, 32 + 48)
struct.pack_into("<HHI", loop, 80, 3, 1, 32)
put("fuzz-vfio-caps", "loop", caps_seed(32, 32, 2, 8, bytes(loop[:88])))

# --- PCI addresses ------------------------------------------------------------
for i, s in enumerate(["0000:00:03.0", "00:1f.3", "ffff:ff:1f.7",
                       "0000:3B:00.1", "10000:00:00.0", "00:20.0"]):
    put("fuzz-pci-addr", "addr-%d" % i, b"\0" + s.encode())
put("fuzz-pci-addr", "raw-struct", b"\x01" + le("HBBB", 0x1234, 0x56, 0x1f, 7))

# --- device names and VF tokens (src/pci/devpath.c) ---------------------------
for i, s in enumerate(["0000:00:03.0", "03:00.0",
                       "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
                       "83B8F4F2-509F-382F-3C1E-E6BFE0FA1001",
                       "/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
                       "/sys/devices/pci0000:00/0000:00:02.0",
                       "/sys//bus/./platform/devices/fff51000.ethernet/",
                       "fff51000.ethernet", "/sys/bus/pci/../devices",
                       "/tmp/x", "00:zz.9"]):
    put("fuzz-devpath", "name-%d" % i, b"\0" + s.encode())
put("fuzz-devpath", "token", b"\x01bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3")

# --- handoff messages (src/iommu/handoff.c) -----------------------------------
put("fuzz-handoff", "iommufd",
    b"libassign-handoff 1\nbackend iommufd\n"
    b"device 0000:00:02.0 pci 2\n"
    b"device 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 mdev -1\nend\n")
put("fuzz-handoff", "type1",
    b"libassign-handoff 1\nbackend type1\ngroup 2\ngroup 7\n"
    b"device 0000:00:02.0 pci 2\ndevice 0000:01:00.1 pci 7\n"
    b"device 0000:01:00.0 pci 7\nend\n")
put("fuzz-handoff", "cut-short",
    b"libassign-handoff 1\nbackend type1\ngroup 2\n")

# --- reserved_regions -------------------------------------------------------
put("fuzz-reserved-regions", "x86-msi",
    b"0x00000000fee00000 0x00000000feefffff msi\n")
put("fuzz-reserved-regions", "x86-rmrr",
    b"0x000000007b800000 0x000000007fffffff direct\n"
    b"0x00000000fee00000 0x00000000feefffff msi\n")
put("fuzz-reserved-regions", "arm-smmu",
    b"0x0000000008000000 0x00000000080fffff msi\n"
    b"0x0000000040000000 0x000000004fffffff reserved\n"
    b"0x00000000000a0000 0x00000000000bffff direct-relaxable\n")
put("fuzz-reserved-regions", "empty", b"")

# --- PCI config spaces ------------------------------------------------------

def cfg_space(vendor, device, cls, bars, caps, ext=(), size=4096, hdr=0):
    """caps: [(offset, id, body bytes)] chained in the order given;
    ext: [(offset, id, version, body)] chained likewise."""
    c = bytearray(size)
    struct.pack_into("<HHHH", c, 0, vendor, device, 0x0406, 0x0010)
    struct.pack_into("<I", c, 8, (cls << 8) | 0x01)
    c[0x0e] = hdr
    for i, b in enumerate(bars):
        struct.pack_into("<I", c, 0x10 + 4 * i, b)
    struct.pack_into("<HH", c, 0x2c, vendor, 0x0001)
    c[0x3c], c[0x3d] = 11, 1
    c[0x34] = caps[0][0] if caps else 0
    for i, (off, cid, body) in enumerate(caps):
        nxt = caps[i + 1][0] if i + 1 < len(caps) else 0
        c[off], c[off + 1] = cid, nxt
        c[off + 2:off + 2 + len(body)] = body
    for i, (off, cid, ver, body) in enumerate(ext):
        nxt = ext[i + 1][0] if i + 1 < len(ext) else 0
        struct.pack_into("<I", c, off, cid | (ver << 16) | (nxt << 20))
        c[off + 4:off + 4 + len(body)] = body
    return bytes(c)


PM = le("HH", 0x0003, 0x0008)
PCIE = le("H", 0x0002) + bytes(58)  # endpoint, v2


def msi(vec_log2, addr64=True, mask=False):
    ctl = (vec_log2 << 1) | (0x80 if addr64 else 0) | (0x100 if mask else 0)
    return le("H", ctl) + bytes(20)


def msix(n, tbir, toff, pbir, poff):
    return le("HII", n - 1, toff | tbir, poff | pbir)


AER = bytes(0x44)
DSN = le("II", 0x12345678, 0x9abcdef0)

e1000e = cfg_space(0x8086, 0x10d3, 0x020000,
                   [0xfebc0000, 0xfeba0000, 0xc001, 0xfebe0000, 0, 0],
                   [(0xc8, 0x01, PM), (0xd0, 0x05, msi(0)),
                    (0xe0, 0x10, PCIE), (0xa0, 0x11, msix(5, 3, 0, 3, 0x2000))],
                   [(0x100, 0x0001, 1, AER), (0x140, 0x0003, 1, DSN)])
e1000e_sizes = [0x20000, 0x20000, 0x20, 0x4000, 0, 0]

nvme = cfg_space(0x1b36, 0x0010, 0x010802,
                 [0xfebf0004, 0, 0, 0, 0, 0],
                 [(0x40, 0x11, msix(65, 0, 0x2000, 0, 0x3000)),
                  (0x80, 0x01, PM), (0x60, 0x10, PCIE)],
                 [(0x100, 0x0001, 2, AER)])
nvme_sizes = [0x4000, 0, 0, 0, 0, 0]

# virtio-net-like: 64-bit prefetchable BAR4 (+5), MSI with per-vector mask.
virtio = cfg_space(0x1af4, 0x1041, 0x020000,
                   [0, 0xfeb00000, 0, 0, 0xfe00000c, 0],
                   [(0x98, 0x11, msix(3, 1, 0, 1, 0x800)),
                    (0x84, 0x05, msi(2, True, True)),
                    (0x40, 0x10, PCIE)], size=256)
virtio_sizes = [0, 0x1000, 0, 0, 0x4000, 0]


def pci_seed(sizes, cap_id, ext_id, cfg):
    return le("QQQQQQ", *sizes) + le("BH", cap_id, ext_id) + cfg


put("fuzz-pci-config", "e1000e", pci_seed(e1000e_sizes, 0x11, 0x3, e1000e))
put("fuzz-pci-config", "nvme", pci_seed(nvme_sizes, 0x10, 0x1, nvme))
put("fuzz-pci-config", "virtio-256",
    pci_seed(virtio_sizes, 0x05, 0x1, virtio))
# Known-bad shapes: a looping standard list, a 64-bit BAR in slot 5, MSI-X
# BIR 7, a list pointer into the header.
bad = bytearray(e1000e[:256])
bad[0xa1] = 0xc8
put("fuzz-pci-config", "std-loop", pci_seed(e1000e_sizes, 0x99, 0, bytes(bad)))
bad = bytearray(e1000e[:256])
struct.pack_into("<I", bad, 0x24, 0xfe000004)
put("fuzz-pci-config", "bar5-mem64", pci_seed(e1000e_sizes, 0, 0, bytes(bad)))
bad = bytearray(e1000e[:256])
struct.pack_into("<I", bad, 0xa4, 7)
put("fuzz-pci-config", "msix-bir7", pci_seed(e1000e_sizes, 0x11, 0, bytes(bad)))
bad = bytearray(e1000e)
struct.pack_into("<I", bad, 0x140, 0x0003 | (1 << 16) | (0x100 << 20))
put("fuzz-pci-config", "ext-loop", pci_seed(e1000e_sizes, 0, 0x99, bytes(bad)))

# --- fuzz-device: records for the hostile kernel (fuzz/fuzz-kernel.h) -------
(FK_SETUP, FK_IOMMU_INFO, FK_DEV_INFO, FK_REGION_INFO, FK_IRQ_INFO,
 FK_HOT_RESET, FK_IOVA_RANGES, FK_RESV_TEXT, FK_CONFIG, FK_ACTION, FK_RW,
 FK_OTHER) = range(12)


def rec(kind, data=b"", index=0, ctl=0):
    return le("BBBH", kind, index, ctl, len(data)) + data


def act(op, *fields):
    """An FK_ACTION record: op byte then (fmt, value) fields."""
    b = le("B", op)
    for fmt, v in fields:
        b += le(fmt, v)
    return rec(FK_ACTION, b)


def dev_info(flags, nreg, nirq):
    return le("IIIIII", 24, flags, nreg, nirq, 0, 0)


def irq_info(index, flags, count):
    return le("IIII", 16, flags, index, count)


def hot_reset(flags, devs):
    b = le("III", 12 + 8 * len(devs), flags, len(devs))
    for gid, seg, bus, devfn in devs:
        b += le("IHBB", gid, seg, bus, devfn)
    return b


def iova_ranges(align, ranges):
    b = le("IQ", len(ranges), align)
    for s, e in ranges:
        b += le("QQ", s, e)
    return b


def device_seed(iommufd, regions, cfg, extra_actions=()):
    s = rec(FK_SETUP, bytes([1 if iommufd else 0]))
    s += rec(FK_IOMMU_INFO, type1)
    s += rec(FK_IOVA_RANGES, iova_ranges(4096, X86))
    s += rec(FK_RESV_TEXT, b"0x00000000fee00000 0x00000000feefffff msi\n")
    s += rec(FK_DEV_INFO, dev_info(0x3, 9, 5))   # RESET | PCI
    for idx, blob in regions:
        s += rec(FK_REGION_INFO, blob, index=idx)
    for idx, fl, cnt in [(0, 0x7, 1), (1, 0x9, 1), (2, 0x9, 5), (3, 0x1, 1),
                         (4, 0x1, 1)]:
        s += rec(FK_IRQ_INFO, irq_info(idx, fl, cnt), index=idx)
    # First answer: -ENOSPC with the real count; then the list.
    s += rec(FK_HOT_RESET, le("III", 12, 0, 2), ctl=0x80 | 2)
    s += rec(FK_HOT_RESET, hot_reset(0, [(7, 0, 0, 0x18), (8, 0, 0, 0x19)]))
    s += rec(FK_CONFIG, cfg)
    for i in range(9):
        s += act(0, ("B", i))
    s += act(5)                                   # BARs
    s += act(1, ("B", 7), ("Q", 0), ("H", 64))    # read config 0..63
    s += act(4, ("H", 0x04), ("H", 2), ("B", 1))  # write command register
    s += act(3, ("B", 0), ("B", 1))               # mmap BAR0 and unmap
    s += act(6, ("B", 2))                         # MSI-X info
    s += act(7, ("B", 2), ("H", 0), ("H", 5), ("B", 0))
    s += act(7, ("B", 2), ("H", 0), ("H", 3), ("B", 1))
    s += act(9, ("B", 4), ("B", 0))               # hot reset deps
    s += act(10)
    s += act(11, ("Q", 0x7f1234560000), ("Q", 0x100000), ("Q", 0x200000),
             ("B", 3))
    s += act(11, ("Q", 0x7f1234560000), ("Q", 0xfee00000), ("Q", 0x1000),
             ("B", 3))                            # lands in the MSI window
    s += act(11, ("Q", 0x7f1234560000), ("Q", 0xfffffffffffff000),
             ("Q", 0x2000), ("B", 3))             # wraps around
    s += act(12, ("Q", 0x100000), ("Q", 0x200000), ("B", 0))
    s += act(13, ("B", 0))                        # reset
    for a in extra_actions:
        s += a
    return s


e1000e_regions = [
    (0, nic_bar0),
    (1, region_info(1, 0x20000, RW | MMAP)),
    (2, region_info(2, 0x20, RW)),
    (3, region_info(3, 0x4000, RW | MMAP, sparse=[])),
    (4, region_info(4, 0, 0)), (5, region_info(5, 0, 0)),
    (6, region_info(6, 0x40000, 0x1)),
    (7, config), (8, region_info(8, 0, 0)),
]
nvme_regions = [
    (0, nvme_bar0), (1, region_info(1, 0, 0)), (2, region_info(2, 0, 0)),
    (3, region_info(3, 0, 0)), (4, region_info(4, 0, 0)),
    (5, region_info(5, 0, 0)), (6, region_info(6, 0, 0)),
    (7, config), (8, region_info(8, 0, 0)),
]
put("fuzz-device", "e1000e-type1", device_seed(False, e1000e_regions, e1000e))
put("fuzz-device", "nvme-iommufd", device_seed(True, nvme_regions, nvme))
# A region whose capability chain loops, and a kernel whose argsz grows
# on every call.
loopreg = [(i, b) for i, b in e1000e_regions if i != 0] + \
    [(0, bytes(loop[:88]))]
put("fuzz-device", "region-cap-loop", device_seed(False, loopreg, e1000e))
grow = bytearray(nic_bar0)
struct.pack_into("<I", grow, 0, 0x10000)
put("fuzz-device", "argsz-grows",
    device_seed(False, [(0, bytes(grow))] + e1000e_regions[1:], e1000e))

# --- fuzz-host: a fake sysfs ------------------------------------------------

def fs(kind, path, content):
    body = path.encode() + b"\0" + content
    return le("BH", kind, len(body)) + body


def pci_dev_files(addr, vendor, device, cls, driver, group, extra=b""):
    d = "bus/pci/devices/" + addr
    s = fs(0, d + "/vendor", b"0x%04x\n" % vendor)
    s += fs(0, d + "/device", b"0x%04x\n" % device)
    s += fs(0, d + "/subsystem_vendor", b"0x8086\n")
    s += fs(0, d + "/subsystem_device", b"0x0000\n")
    s += fs(0, d + "/class", b"0x%06x\n" % cls)
    s += fs(0, d + "/driver_override", b"(null)\n")
    if driver:
        s += fs(1, d + "/driver", b"../../../bus/pci/drivers/" + driver)
    s += fs(1, d + "/iommu_group", b"../../../kernel/iommu_groups/%d" % group)
    return s + extra


A, B = "0000:00:03.0", "0000:00:02.0"
nic = pci_dev_files(A, 0x8086, 0x10d3, 0x020000, b"e1000e", 7)
nic += fs(2, "bus/pci/devices/%s/net" % A, b"enp0s3")
nic += fs(2, "bus/pci/devices/%s" % A,
          b"vendor\ndevice\nclass\ndriver\nnet\niommu_group\nvirtfn0\nvirtfn1")
nic += fs(0, "bus/pci/devices/%s/sriov_totalvfs" % A, b"7\n")
nic += fs(0, "bus/pci/devices/%s/sriov_numvfs" % A, b"2\n")
nic += fs(1, "bus/pci/devices/%s/virtfn0" % A, b"../0000:00:03.1")
nic += fs(1, "bus/pci/devices/%s/virtfn1" % A, b"../0000:00:03.2")
bridge = pci_dev_files(B, 0x8086, 0x1234, 0x060400, b"pcieport", 7)
group7 = fs(2, "kernel/iommu_groups/7/devices", (A + "\n" + B).encode())
buslist = fs(2, "bus/pci/devices", (A + "\n" + B).encode())
record = fs(3, "-", b"driver=e1000e\ndriver_override=\n")
put("fuzz-host", "e1000e-pf-with-bridge", nic + bridge + group7 + buslist +
    record)
vfio = pci_dev_files(A, 0x1b36, 0x0010, 0x010802, b"vfio-pci", 7)
vfio += fs(0, "bus/pci/devices/%s/driver_override" % A, b"vfio-pci\n")
put("fuzz-host", "nvme-vfio", vfio + fs(2, "kernel/iommu_groups/7/devices",
                                        A.encode()) +
    fs(2, "bus/pci/devices", A.encode()) +
    fs(3, "-", b"driver=nvme\ndriver_override=vfio-pci\n"))
vf = pci_dev_files(A, 0x8086, 0x10ed, 0x020000, b"ixgbevf", 7)
vf += fs(1, "bus/pci/devices/%s/physfn" % A, b"../0000:00:02.0")
vf += fs(2, "bus/pci/devices/0000:00:02.0", b"virtfn0\nvirtfn1")
vf += fs(1, "bus/pci/devices/0000:00:02.0/virtfn1", b"../" + A.encode())
put("fuzz-host", "sriov-vf", vf + group7)
# a group member's record: moved for another device, with the comment
# header, pid and time a bind writes
put("fuzz-host", "record-group-member", nic + group7 + buslist +
    fs(3, "-", b"# libassign state record\n# comment\ndriver=e1000e\n"
       b"driver_override=\npid=812\ntime=1733500000\n"
       b"for=0000:00:02.0\n"))

# --- fuzz-vmm: the device records of fuzz-device plus guest accesses --------
FK_GUEST = 12
MMIO = 0xc0000000


def g_cfg_w(off, size, val):
    return rec(FK_GUEST, le("BBBI", 0, off, {1: 0, 2: 1, 4: 2}[size], val))


def g_cfg_r(off, size):
    return rec(FK_GUEST, le("BBBI", 1, off, {1: 0, 2: 1, 4: 2}[size], 0))


def g_mmio_w(addr, size, val):
    return rec(FK_GUEST, le("BIBQ", 2, addr - MMIO,
                            {1: 0, 2: 1, 4: 2, 8: 3}[size], val))


def g_mmio_r(addr, size):
    return rec(FK_GUEST, le("BIBQ", 3, addr - MMIO,
                            {1: 0, 2: 1, 4: 2, 8: 3}[size], 0))


def g_port(port, size, val, write=True):
    return rec(FK_GUEST, le("BHBI", 4 if write else 5, port,
                            {1: 0, 2: 1, 4: 2}[size], val))


def vmm_kernel(regions, cfg):
    s = rec(FK_SETUP, b"\0")
    s += rec(FK_IOMMU_INFO, type1)
    s += rec(FK_RESV_TEXT, b"0x00000000fee00000 0x00000000feefffff msi\n")
    s += rec(FK_DEV_INFO, dev_info(0x3, 9, 5))
    for idx, blob in regions:
        s += rec(FK_REGION_INFO, blob, index=idx)
    for idx, fl, cnt in [(0, 0x7, 1), (1, 0x9, 1), (2, 0x9, 5), (3, 0x1, 1),
                         (4, 0x1, 1)]:
        s += rec(FK_IRQ_INFO, irq_info(idx, fl, cnt), index=idx)
    return s + rec(FK_CONFIG, cfg)


# e1000e: BAR0 at MMIO, BAR1 +128K, BAR2 I/O at 0xc000, BAR3 (MSI-X) +256K
BAR3 = MMIO + 0x40000
guest = b"".join([
    g_cfg_r(0x00, 4),
    g_cfg_w(0x10, 4, 0xffffffff), g_cfg_r(0x10, 4),      # BAR sizing
    g_cfg_w(0x10, 4, MMIO),
    g_cfg_w(0x04, 2, 0x0007),                              # IO|MEM|master
    g_cfg_w(0xa2, 2, 0x8000),                              # MSI-X on
    g_mmio_w(BAR3 + 0, 4, 0xfee00000), g_mmio_w(BAR3 + 4, 4, 0),
    g_mmio_w(BAR3 + 8, 4, 0x4021), g_mmio_w(BAR3 + 12, 4, 0),
    g_mmio_w(BAR3 + 16, 8, 0xfee01000), g_mmio_w(BAR3 + 24, 8, 0x4022),
    g_mmio_r(BAR3 + 0x2000, 8),                            # PBA
    g_mmio_r(MMIO + 0x8, 4),                               # BAR0 register
    g_cfg_w(0xa2, 2, 0xc000),                              # mask all
    g_cfg_w(0x1c, 4, MMIO + 0x100000),                     # move BAR3
    g_cfg_w(0xd2, 2, 0x0001), g_cfg_w(0xd4, 4, 0xfee00000),
    g_cfg_w(0xdc, 2, 0x4031),                              # MSI data
    g_cfg_w(0xa2, 2, 0x0000),                              # MSI-X off
    g_port(0xc000, 4, 0x12345678), g_port(0xc004, 4, 0, False),
    g_cfg_w(0x04, 2, 0x0000),                              # decoding off
])
put("fuzz-vmm", "e1000e-msix-msi", vmm_kernel(e1000e_regions, e1000e) + guest)
nvme_guest = b"".join([
    g_cfg_w(0x10, 4, 0xffffffff), g_cfg_w(0x14, 4, 0xffffffff),
    g_cfg_r(0x10, 4), g_cfg_r(0x14, 4),
    g_cfg_w(0x10, 4, MMIO + 0x10000), g_cfg_w(0x14, 4, 0),
    g_cfg_w(0x04, 2, 0x0006),
    g_cfg_w(0x42, 2, 0x8000),                              # MSI-X on
    g_mmio_w(MMIO + 0x12000, 4, 0xfee00000),
    g_mmio_w(MMIO + 0x12008, 4, 0x4041),
    g_mmio_w(MMIO + 0x1200c, 4, 0),
    g_mmio_r(MMIO + 0x13000, 8),
    g_mmio_r(MMIO + 0x10000, 4),
])
put("fuzz-vmm", "nvme-msix", vmm_kernel(nvme_regions, nvme) + nvme_guest)

# --- fuzz-guestmem: guest IOMMU operations ----------------------------------
M = 1 << 20


def gm_op(op, a=0, b=0, c=0, perms=3):
    return rec(FK_GUEST, le("BQQQB", op, a, b, c, perms))


gm_ops = b"".join([
    gm_op(0, 0x100000, 0x0, 0x10000),           # map 64K of RAM
    gm_op(0, 0x110000, 0x10000, 0x10000),       # adjacent (merge candidate)
    gm_op(2, 0x118000),                         # lookup
    gm_op(0, 0x200000, 0x7f0000, 0x20000),      # crosses into the hole
    gm_op(0, 0x300000, 0x1000000, 0x200000, 1),  # second region, read-only
    gm_op(1, 0x108000, 0, 0x10000),             # unmap splitting both
    gm_op(0, 0x120000, 0x7ff000, 0x2000),       # spans RAM end
    gm_op(0, 0x400000, 0x0, 0x1000, 0),         # no permissions
    gm_op(1, 0x0, 0, 0x1000000),                # unmap everything
    gm_op(3, 0x1000000, 0, 0x100000),           # remove part of region 2
    gm_op(4, 0, 0, 0, 1), gm_op(4, 0, 0, 0, 0),  # map-all and back
    gm_op(0x80, 0xfffffffffffff000, 0, 0x2000),  # raw: wraps
])
put("fuzz-guestmem", "guest-iommu-ops",
    vmm_kernel(e1000e_regions, e1000e) + gm_ops)
put("fuzz-guestmem", "guest-iommu-merge",
    rec(FK_SETUP, b"\0", ctl=1) + vmm_kernel(e1000e_regions, e1000e)[5:] +
    gm_ops)

# Kernel failures in the middle of DMA work: the n-th "other" ioctl (maps,
# unmaps, resets, SET_IRQS, in call order) fails.
def others(pattern):
    return b"".join(rec(FK_OTHER, b"", ctl=c) for c in pattern)


ENOMEM_, EIO_, ENOSPC_ = 0x80 | 6, 0x80 | 3, 0x80 | 2
put("fuzz-guestmem", "kernel-fails-midway",
    vmm_kernel(e1000e_regions, e1000e) +
    others([0, 0, 0, ENOMEM_, 0, EIO_, 0, ENOSPC_, 0, 0]) + gm_ops)
batch = act(12, ("B", 1), ("B", 2), ("Q", 0x4000000), ("Q", 0x10000),
            ("Q", 0x4100000), ("Q", 0x10000), ("Q", 0x4200000), ("Q", 0x10000))
put("fuzz-device", "map-many-rollback",
    device_seed(False, e1000e_regions, e1000e, [batch]) +
    others([0, 0, 0, 0, 0, 0, ENOMEM_]))

# fuzz-vmm: 64-bit BAR moved above 4 GiB by its high half (refused: outside
# the hole), kernel failures while enabling MSI-X and INTx.
nvme_high = b"".join([
    g_cfg_w(0x04, 2, 0x0006), g_cfg_w(0x14, 4, 0x00000001),
    g_cfg_w(0x10, 4, MMIO + 0x20000), g_cfg_r(0x14, 4),
    g_cfg_w(0x14, 4, 0), g_mmio_r(MMIO + 0x20000, 4),
])
put("fuzz-vmm", "nvme-bar-high-half", vmm_kernel(nvme_regions, nvme) +
    nvme_high)
put("fuzz-vmm", "e1000e-irq-failures",
    vmm_kernel(e1000e_regions, e1000e) +
    others([0, EIO_, 0, 0, ENOSPC_, 0, EIO_]) + guest)

# --- fuzz-vpci: guest operations on the library's virtual function ----------

def v_cfg_w(off, size, val):
    return rec(FK_GUEST, le("BHBI", 0, off, size, val))


def v_cfg_r(off, size):
    return rec(FK_GUEST, le("BHBI", 1, off, size, 0))


def v_bar(write, bar, off, size, val=0):
    return rec(FK_GUEST, le("BBQBQ", 2 if write else 3, bar, off, size, val))


vpci_e1000e = b"".join([
    v_cfg_r(0x00, 4),
    v_cfg_w(0x10, 4, 0xffffffff), v_cfg_r(0x10, 4),       # size BAR0
    v_cfg_w(0x10, 4, 0xc0000000), v_cfg_w(0x14, 4, 0xc0020000),
    v_cfg_w(0x18, 4, 0xc001), v_cfg_w(0x1c, 4, 0xc0040000),
    v_cfg_w(0x30, 4, 0xfffff801), v_cfg_r(0x30, 4),       # ROM sizing
    v_cfg_w(0x04, 2, 0x0007),                             # decode on
    v_cfg_w(0xa2, 2, 0x8000),                             # MSI-X on
    v_bar(True, 3, 0, 4, 0xfee00000), v_bar(True, 3, 8, 4, 0x4021),
    v_bar(True, 3, 12, 4, 0), v_bar(True, 3, 16, 8, 0xfee01000),
    v_bar(False, 3, 0x2000, 8), v_bar(False, 0, 0x8, 4),
    v_bar(True, 2, 0x0, 4, 0x12345678),
    v_cfg_w(0xa2, 2, 0xc000),                             # function mask
    v_cfg_w(0x1c, 4, 0xc0100000),                         # move BAR3
    v_cfg_w(0xa2, 2, 0x0000),                             # MSI-X off
    v_cfg_w(0xd2, 2, 0x0001), v_cfg_w(0xd4, 4, 0xfee00000),
    v_cfg_w(0xdc, 2, 0x4031),                             # MSI on
    rec(FK_GUEST, le("BB", 6, 1)),                        # VMM refuses next
    v_cfg_w(0x04, 2, 0x0000), v_cfg_w(0x04, 2, 0x0006),
    rec(FK_GUEST, le("B", 4)),                            # reset
    rec(FK_GUEST, le("BB", 5, 3)),
    v_cfg_w(0x13, 1, 0xff), v_cfg_r(0x11, 2),             # misaligned
    v_cfg_w(0xffe, 4, 0), v_bar(False, 7, 0, 4), v_bar(False, 3, 0x3ffc, 8),
])
put("fuzz-vpci", "e1000e-guest", vmm_kernel(e1000e_regions, e1000e) +
    vpci_e1000e)
vpci_nvme = b"".join([
    v_cfg_w(0x10, 4, 0xffffffff), v_cfg_w(0x14, 4, 0xffffffff),
    v_cfg_r(0x10, 4), v_cfg_r(0x14, 4),
    v_cfg_w(0x10, 4, 0xffffc000), v_cfg_w(0x14, 4, 0xffffffff),  # top of 2^64
    v_cfg_w(0x04, 2, 0x0006),
    v_cfg_w(0x10, 4, 0xc0010000), v_cfg_w(0x14, 4, 0),
    v_cfg_w(0x42, 2, 0x8000),
    v_bar(True, 0, 0x2000, 4, 0xfee00000), v_bar(True, 0, 0x2008, 4, 0x41),
    v_bar(True, 0, 0x200c, 4, 0), v_bar(False, 0, 0x3000, 8),
    v_bar(True, 0, 0x3000, 8, 0xffffffffffffffff),        # PBA write
])
put("fuzz-vpci", "nvme-guest", vmm_kernel(nvme_regions, nvme) + vpci_nvme)
# The same guest on iommufd with every ASSIGN_VPCI_F_* flag (setup bits 1-3).
put("fuzz-vpci", "e1000e-iommufd-noromnommapnointx",
    rec(FK_SETUP, b"\x0f") + rec(FK_IOVA_RANGES, iova_ranges(4096, X86)) +
    vmm_kernel(e1000e_regions, e1000e)[6:] +
    vpci_e1000e)


# --- fuzz-mig-stream: migration streams (src/device/mig_stream.c) -----------

def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), bit by bit: seeds are small."""
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


def mig_header(vendor, device, flags, source, version=1):
    h = b"\x89LASMIG\n" + le("HHI", version, 108, 0)
    h += le("HHHHIIQ", vendor, device, vendor, device, 0x078000, flags, 0)
    h += source.encode().ljust(64, b"\0")
    return h + le("I", crc32c(h))


def mig_record(rtype, seq, payload=b"", flags=0):
    h = le("IIQI", rtype, flags, seq, len(payload))
    r = h + le("I", crc32c(h))
    if payload:
        r += payload + le("I", crc32c(payload))
    return r


def mig_stream(chunks, cut=None):
    """A stream as assign_migration_save() writes it: per round, DATA
    records then a SYNC; at the end, the END record with the totals."""
    out, seq, total, nrec = mig_header(0x4348, 0x3253, 7, "0000:00:05.0"), 0, 0, 0
    for rnd in chunks:
        for data in rnd:
            out += mig_record(1, seq, data)
            seq, total, nrec = seq + 1, total + len(data), nrec + 1
        out += mig_record(2, seq)
        seq += 1
    out += mig_record(3, seq, le("QQ", total, nrec))
    return out[:cut] if cut else out


# mtty's state as its driver streams it: magic, versions, ports.
mtty = le("QIIII", 0x7e9d09898c3e2c4e, 1, 0, 2, 0)
mtty_ports = bytes(range(64)) * 2
# Byte 0: mode (even: raw stream), byte 1: read size (0: whole reads).
put("fuzz-mig-stream", "raw-mtty-two-rounds",
    b"\x00\x00" + mig_stream([[mtty], [mtty_ports]]))
put("fuzz-mig-stream", "raw-short-reads",
    b"\x00\x05" + mig_stream([[mtty, mtty_ports], []]))
put("fuzz-mig-stream", "raw-cut-short",
    b"\x00\x00" + mig_stream([[mtty], [mtty_ports]], cut=120))
put("fuzz-mig-stream", "raw-optional-record",
    b"\x00\x00" + mig_header(0x4348, 0x3253, 1, "x") +
    mig_record(1, 0, mtty) + mig_record(77, 1, b"hint", flags=1) +
    mig_record(3, 2, le("QQ", len(mtty), 1)))
put("fuzz-mig-stream", "raw-newer-version",
    b"\x00\x00" + mig_header(0x4348, 0x3253, 1, "x", version=2))
# Odd mode: a script (vendor, device, flags, bus, then ops: 0/1 DATA
# with a length byte * 7, 2 SYNC, 3 optional record, 4 END, 5 flip a bit,
# 6 cut, 7 repeat the last record); 0x40 in the mode byte makes the
# device refuse data after a u16 count.
put("fuzz-mig-stream", "script-rounds",
    b"\x01\x00" + le("HHBB", 0x4348, 0x3253, 7, 5) +
    b"\x00\x04" + b"A" * 28 + b"\x02" + b"\x01\x02" + b"B" * 14 +
    b"\x03\x10\x04" + b"\x02\x04")
put("fuzz-mig-stream", "script-flip",
    b"\x01\x07" + le("HHBB", 0x8086, 0x10d3, 1, 0) +
    b"\x00\x03" + b"C" * 21 + b"\x05" + le("I", 70) + b"\x03" + b"\x04")
put("fuzz-mig-stream", "script-refuse",
    b"\x41\x00" + le("H", 10) + le("HHBB", 0x4348, 0x3253, 7, 5) +
    b"\x00\x04" + b"D" * 28 + b"\x04")


# --- fuzz-vmm-boot: kernel images for the example VMM's loaders -------------
# Input: u8 flags (1: initramfs, 2: command line), u16 + command line, u32 +
# initramfs, then the kernel image (fuzz/fuzz-vmm-boot.c).


def boot_input(kernel, cmdline=None, initrd=None):
    flags = (1 if initrd is not None else 0) | (2 if cmdline is not None else 0)
    cl = cmdline or b""
    rd = initrd or b""
    return le("BH", flags, len(cl)) + cl + le("I", len(rd)) + rd + kernel


def bzimage(pm_size=8192, setup_sects=4, version=0x020f, init_size=0x200000,
            payload=(0x100, 0x1000), tail=b""):
    """A bzImage as arch/x86/boot/tools/build.c lays it out: setup sectors
    with the setup header at 0x1f1, then the protected-mode part."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1f1] = setup_sects
    struct.pack_into("<I", setup, 0x1f4, pm_size // 16)      # syssize
    struct.pack_into("<H", setup, 0x1fe, 0xAA55)
    setup[0x200:0x202] = b"\xeb\x66"                         # jmp 0x268
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = 0x01                                      # LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, 0x100000)           # code32_start
    struct.pack_into("<I", setup, 0x22c, 0x7fffffff)         # initrd_addr_max
    struct.pack_into("<I", setup, 0x230, 0x200000)           # kernel_alignment
    setup[0x234] = 1                                         # relocatable
    struct.pack_into("<H", setup, 0x236, 0x7f)               # xloadflags
    struct.pack_into("<I", setup, 0x238, 2047)               # cmdline_size
    struct.pack_into("<II", setup, 0x248, *payload)
    struct.pack_into("<I", setup, 0x260, init_size)
    pm = bytearray(pm_size)
    pm[0x200:0x204] = b"\x0f\x0b\xf4\xf4"                    # ud2, hlt
    pm[payload[0]:payload[0] + 2] = b"\x1f\x8b"              # gzip magic
    return bytes(setup) + bytes(pm) + tail


def vmlinux(segments, entry=0x1000000):
    """An x86-64 ET_EXEC with PT_LOAD segments (paddr, data, memsz)."""
    phoff, n = 64, len(segments)
    data_off = phoff + 56 * n
    eh = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    eh += le("HHIQQQIHHHHHH", 2, 62, 1, 0xffffffff80000000 + entry, phoff,
             0, 0, 64, 56, n, 64, 0, 0)
    ph, body = b"", b""
    for paddr, data, memsz in segments:
        ph += le("IIQQQQQQ", 1, 7, data_off + len(body),
                 0xffffffff80000000 + paddr, paddr, len(data), memsz, 0x1000)
        body += data
    return eh + ph + body


CPIO = b"070701" + b"0" * 104 + b"TRAILER!!!\0\0"
put("fuzz-vmm-boot", "bzimage-initrd-cmdline",
    boot_input(bzimage(), b"console=ttyS0 acpi=noirq quiet", CPIO))
put("fuzz-vmm-boot", "bzimage-bare", boot_input(bzimage(pm_size=4096)))
put("fuzz-vmm-boot", "bzimage-signed",
    boot_input(bzimage(tail=b"\x30\x82" + b"S" * 1470), None, CPIO))
put("fuzz-vmm-boot", "bzimage-truncated",
    boot_input(bzimage()[:4096]))
put("fuzz-vmm-boot", "bzimage-old-protocol",
    boot_input(bzimage(version=0x0206)))
put("fuzz-vmm-boot", "vmlinux-text-data-bss",
    boot_input(vmlinux([(0x1000000, b"\x0f\x0b" * 512, 0x1000),
                        (0x1200000, b"D" * 256, 0x100000)]),
               b"console=ttyS0", CPIO))
put("fuzz-vmm-boot", "vmlinux-overlapping",
    boot_input(vmlinux([(0x1000000, b"A" * 0x2000, 0x2000),
                        (0x1001000, b"B" * 0x100, 0x800)])))


# --- fuzz-viommu: the example VMM's virtio-iommu --------------------------------

def vi_req(readable, writable_len=4):
    return le("BBH", 0, len(readable), writable_len) + readable


def vi_attach(dom, ep, flags=0):
    return vi_req(le("B3xIII4x", 1, dom, ep, flags))


def vi_detach(dom, ep):
    return vi_req(le("B3xII8x", 2, dom, ep))


def vi_map(dom, start, end, phys, flags=3):
    return vi_req(le("B3xIQQQI", 3, dom, start, end, phys, flags))


def vi_unmap(dom, start, end):
    return vi_req(le("B3xIQQ4x", 4, dom, start, end))


def vi_probe(ep, psize=24):
    return vi_req(le("B3xI64x", 5, ep), psize + 4)


def vi_features(probe=True, bypass_config=True):
    return le("BB", 2, (1 if probe else 0) | (2 if bypass_config else 0))


def vi_fail(mask):
    return le("BB", 1, mask)


def vi_bar(write, off, size, val=0):
    return le("BBHBI", 5, 1 if write else 0, off, {1: 0, 2: 1, 4: 2}[size],
              val)


def vi_ram(off, data):
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += le("BHB", 6, off + i, len(chunk)) + chunk
    return out


def vi_cfg(write, off, size, val=0):
    return le("BBBBI", 7, 1 if write else 0, off, {1: 0, 2: 1, 4: 2}[size],
              val)


# What Linux's driver does: probe, a domain per endpoint, maps and unmaps,
# a second endpoint joining a domain with mappings (replayed), a bypass
# domain, detach.
put("fuzz-viommu", "linux-like", b"".join([
    vi_features(),
    vi_probe(8), vi_probe(0x10),
    vi_attach(1, 8), vi_map(1, 0x1000, 0x1fff, 0x3000),
    vi_map(1, 0x4000, 0x7fff, 0x8000, 1), vi_unmap(1, 0x1000, 0x1fff),
    vi_attach(1, 0x10), vi_map(1, 0x10000, 0x10fff, 0x0, 2),
    vi_attach(2, 0x18, 1), vi_unmap(1, 0, 0xffffffff),
    vi_detach(1, 8), vi_detach(1, 0x10), vi_detach(2, 0x18),
    le("BBB", 3, 36, 0),                  # bypass off
    vi_attach(3, 8), vi_map(3, 0x2000, 0x2fff, 0x1000), le("B", 4),
]))
# The bad requests of the lab's viommu-badreq.
put("fuzz-viommu", "bad-requests", b"".join([
    vi_features(), vi_probe(0xfff8), vi_probe(8, 8),
    vi_attach(7, 0xfff8), vi_req(le("B3xIII4B", 1, 7, 8, 0, 1, 0, 0, 0)),
    vi_attach(7, 8, 0x80), vi_attach(0x10000, 8), vi_attach(7, 8),
    vi_attach(7, 8, 1), vi_map(7, 0x100000, 0x100fff, 0x1000),
    vi_map(7, 0x100000, 0x100fff, 0x1000),
    vi_map(7, 0xfee00000, 0xfee00fff, 0x1000),
    vi_map(7, 0x8000000000, 0x8000000fff, 0x1000),
    vi_map(7, 0x200000, 0xffffffffffffffff, 0x1000),
    vi_map(7, 0x200000, 0x201fff, 0xfffffffffffff000),
    vi_map(7, 0x200000, 0x1fffff, 0x1000), vi_map(7, 0x200800, 0x2017ff, 0),
    vi_map(7, 0x200000, 0x200fff, 0xd0000000), vi_map(7, 0x200000, 0x200fff,
                                                      0, 8),
    vi_map(99, 0x200000, 0x200fff, 0), vi_map(7, 0x300000, 0x301fff, 0),
    vi_unmap(7, 0x300000, 0x300fff), vi_unmap(7, 0x400000, 0x400fff),
    vi_unmap(99, 0, 0xfff), vi_unmap(7, 0x301fff, 0x300000),
    vi_detach(8, 8), vi_detach(7, 0xfff8),
    vi_req(b"\x42", 4), vi_req(le("B7x", 3), 4), vi_req(le("B7x", 3), 2),
]))
# Host calls failing: a map, an attach, a detach into bypass.
put("fuzz-viommu", "host-failures", b"".join([
    vi_features(), vi_attach(1, 8), vi_attach(1, 0x10),
    vi_map(1, 0x1000, 0x1fff, 0x2000), vi_fail(1),
    vi_map(1, 0x3000, 0x3fff, 0x2000), vi_fail(2), vi_attach(2, 0x18),
    vi_fail(1), vi_attach(1, 0x18), vi_fail(2), vi_detach(1, 8),
    vi_fail(2), le("BBB", 3, 36, 0), vi_fail(2), le("BBB", 3, 36, 1),
]))
# Through the transport: memory decoding on, features, a queue of 8 in
# guest RAM (descriptors at 0x1000, available ring at 0x1100, used ring at
# 0x1200), DRIVER_OK, an ATTACH at 0x2000 with its status at 0x2100, the
# chain in descriptors 0 and 1, the available index, the notification.
Q = 0x1000
attach = le("B3xIII4x", 1, 1, 8, 0)
put("fuzz-viommu", "transport-attach", b"".join([
    vi_cfg(True, 0x04, 2, 0x0002),
    vi_bar(True, 20, 1, 0), vi_bar(True, 20, 1, 3),     # ACK | DRIVER
    vi_bar(True, 0, 4, 0), vi_bar(False, 4, 4),
    vi_bar(True, 8, 4, 0), vi_bar(True, 12, 4, 0x54),   # features 2,4,6
    vi_bar(True, 8, 4, 1), vi_bar(True, 12, 4, 1),      # VERSION_1
    vi_bar(True, 20, 1, 11),                            # FEATURES_OK
    vi_bar(True, 22, 2, 0), vi_bar(True, 24, 2, 8),
    vi_bar(True, 32, 4, Q), vi_bar(True, 40, 4, Q + 0x100),
    vi_bar(True, 48, 4, Q + 0x200), vi_bar(True, 28, 2, 1),
    vi_bar(True, 20, 1, 15),                            # DRIVER_OK
    vi_ram(0x2000, attach),
    vi_ram(Q, le("QIHH", 0x2000, 20, 1, 1) + le("QIHH", 0x2100, 4, 2, 0)),
    vi_ram(Q + 0x100, le("HHH", 1, 1, 0)),              # flags, idx, ring[0]
    vi_bar(True, 0x3000, 2, 0),                         # notify queue 0
    vi_bar(False, 0x1000, 1), vi_bar(False, 0x2000 + 36, 1),
    vi_cfg(True, 0x84 + 4, 1, 0), vi_cfg(True, 0x84 + 8, 4, 0x2000),
    vi_cfg(True, 0x84 + 12, 4, 4), vi_cfg(False, 0x84 + 16, 4),
    vi_bar(True, 20, 1, 0),                             # reset
]))
