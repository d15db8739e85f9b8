#!/usr/bin/env python3
"""Check that the layers of docs/architecture.md are the tree of src/ and
that every include points to the same layer or one below it.

The layer table in docs/architecture.md has rows such as
    | 3. iommu | `src/iommu/` | libassign | ... |
Each source file in src/<folder>/ belongs to that folder's layer; an
internal include names its layer ("iommu/iommu.h"). Includes without a
folder, with "..", or of another layer's files from a lower layer fail.

Usage: check-layers.py SOURCE_ROOT
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else '.'
doc = os.path.join(root, 'docs', 'architecture.md')
src = os.path.join(root, 'src')
errors = []

layers = {}
row = re.compile(r'^\|\s*(\d+)\.\s*(\w+)\s*\|\s*`src/(\w+)/`')
with open(doc) as f:
    for line in f:
        m = row.match(line)
        if m:
            level, name, folder = int(m.group(1)), m.group(2), m.group(3)
            if name != folder:
                errors.append(f'{doc}: layer {level} is called {name} '
                              f'but its folder is src/{folder}/')
            layers[folder] = level
if not layers:
    errors.append(f'{doc}: no layer table found (rows like '
                  '"| 1. core | `src/core/` | ...")')

# Folders that are not layers: the vendored kernel headers.
not_layers = {'uapi'}
tree = {d for d in os.listdir(src)
        if os.path.isdir(os.path.join(src, d)) and d not in not_layers}
for d in sorted(tree - set(layers)):
    errors.append(f'src/{d}/ is not in the layer table of docs/architecture.md')
for d in sorted(set(layers) - tree):
    errors.append(f'docs/architecture.md lists src/{d}/, which does not exist')
for f in sorted(os.listdir(src)):
    if f.endswith(('.c', '.h')):
        errors.append(f'src/{f} lies outside every layer folder')

inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
nfiles = nincs = 0
for folder in sorted(tree & set(layers)):
    for dirpath, _, files in os.walk(os.path.join(src, folder)):
        for fn in sorted(files):
            if not fn.endswith(('.c', '.h')):
                continue
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, root)
            nfiles += 1
            with open(path, errors='replace') as f:
                for lineno, line in enumerate(f, 1):
                    m = inc.match(line)
                    if not m:
                        continue
                    nincs += 1
                    target = m.group(1)
                    parts = target.split('/')
                    where = f'{rel}:{lineno}: #include "{target}"'
                    if '..' in parts or len(parts) != 2:
                        errors.append(f'{where}: name the layer folder '
                                      '("layer/header.h"), without ".."')
                        continue
                    to = parts[0]
                    if to not in layers:
                        errors.append(f'{where}: {to}/ is not a layer')
                    elif not os.path.exists(os.path.join(src, target)):
                        errors.append(f'{where}: no such file')
                    elif layers[to] > layers[folder]:
                        errors.append(
                            f'{where}: points up, from layer '
                            f'{layers[folder]} ({folder}) to layer '
                            f'{layers[to]} ({to})')

for e in errors:
    print(e)
if errors:
    print('0 passed, 1 failed')
    sys.exit(1)
print(f'layers: {len(layers)} layers match the tree; {nincs} includes in '
      f'{nfiles} files point down or sideways only')
print('1 passed, 0 failed')
