#!/usr/bin/env python3
"""Write the C example of README.md's "Using the library" section (the
first ```c block after that heading) to a file, so that the build compiles
it and it cannot drift from the API.

Usage: extract.py README.md OUT.c
"""
import sys

readme, out = sys.argv[1], sys.argv[2]
heading = '## Using the library'
lines = open(readme).read().split('\n')
try:
    start = lines.index(heading)
    begin = lines.index('```c', start) + 1
    end = lines.index('```', begin)
except ValueError:
    sys.exit(f'{readme}: no ```c block after "{heading}"')
with open(out, 'w') as f:
    f.write(f'/* Extracted from {readme} by {sys.argv[0]}: edit README.md. */\n')
    f.write('\n'.join(lines[begin:end]) + '\n')
