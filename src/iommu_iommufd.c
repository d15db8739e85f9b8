// SPDX-License-Identifier: MIT
/* Being written: see src/internal.h and include/libassign/. */
