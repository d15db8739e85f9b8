/* SPDX-License-Identifier: MIT */
/*
 * The IOVA tree moved to src/iova_tree.h (it is shared with the IOMMU
 * layer, which may not depend on the policy layer). This header only keeps
 * "policy/iova_tree.h" includes working; include "iova_tree.h" instead.
 */
#include "../iova_tree.h"
