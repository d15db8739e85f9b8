/* SPDX-License-Identifier: MIT */
/*
 * An AVL tree of disjoint, inclusive address ranges keyed by their start.
 * Intrusive: embed struct iova_node in the object tracked and get back to
 * it with container_of(). Lookup, insert and remove are O(log n); nodes
 * carry a parent pointer so in-order walks need no stack.
 *
 * Not thread-safe: the owner serializes access.
 *
 * Used by the IOMMU layer (iommu.c: the library's DMA mapping table) and
 * by the guest memory policy (policy/guestmem.c), so it lives in src/, below
 * both (docs/architecture.md: dependencies point down only).
 */
#ifndef LIBASSIGN_IOVA_TREE_H
#define LIBASSIGN_IOVA_TREE_H

#include <stddef.h>
#include <stdint.h>

struct iova_node {
	struct iova_node *left, *right, *parent;
	int height;
	uint64_t start; /* first address */
	uint64_t last;  /* last address, inclusive */
};

struct iova_tree {
	struct iova_node *root;
	size_t count;
};

#define iova_container_of(ptr, type, member)                                   \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void iova_tree_init(struct iova_tree *t)
{
	t->root = NULL;
	t->count = 0;
}

/* Insert @n ([n->start, n->last] set by the caller). -EEXIST if it overlaps
 * a node already in the tree (the tree is then unchanged), -EINVAL if
 * start > last. */
int iova_tree_insert(struct iova_tree *t, struct iova_node *n);
/* Remove @n, which must be in @t. */
void iova_tree_remove(struct iova_tree *t, struct iova_node *n);
/* The node containing @addr, or NULL. */
struct iova_node *iova_tree_find(const struct iova_tree *t, uint64_t addr);
/* The lowest node overlapping [start, last], or NULL. */
struct iova_node *iova_tree_first_overlap(const struct iova_tree *t,
					  uint64_t start, uint64_t last);
/* The highest node overlapping [start, last], or NULL. */
struct iova_node *iova_tree_last_overlap(const struct iova_tree *t,
					 uint64_t start, uint64_t last);
/* In-order walk. */
struct iova_node *iova_tree_first(const struct iova_tree *t);
struct iova_node *iova_tree_last(const struct iova_tree *t);
struct iova_node *iova_tree_next(const struct iova_node *n);
struct iova_node *iova_tree_prev(const struct iova_node *n);
/* Check every invariant (order, disjointness, heights, balance, parent
 * links, count): 0 or -EPROTO. For tests. */
int iova_tree_check(const struct iova_tree *t);

#endif /* LIBASSIGN_IOVA_TREE_H */
