// SPDX-License-Identifier: MIT
/*
 * AVL tree of disjoint address ranges (see iova_tree.h). Heights are kept
 * in the nodes; after an insert or a removal the path to the root is
 * walked once, updating heights and rotating where the two subtrees of a
 * node differ in height by two.
 */
#include <errno.h>
#include <stdbool.h>

#include "core/core.h"

static inline int height(const struct iova_node *n)
{
	return n ? n->height : 0;
}

static inline void update(struct iova_node *n)
{
	int l = height(n->left), r = height(n->right);

	n->height = 1 + (l > r ? l : r);
}

/* Make @new take @old's place under @parent (or at the root). */
static inline void replace_child(struct iova_tree *t, struct iova_node *parent,
				 struct iova_node *old, struct iova_node *new)
{
	if (!parent)
		t->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
	if (new)
		new->parent = parent;
}

static struct iova_node *rotate_left(struct iova_tree *t, struct iova_node *x)
{
	struct iova_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	replace_child(t, x->parent, x, y);
	y->left = x;
	x->parent = y;
	update(x);
	update(y);
	return y;
}

static struct iova_node *rotate_right(struct iova_tree *t, struct iova_node *x)
{
	struct iova_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	replace_child(t, x->parent, x, y);
	y->right = x;
	x->parent = y;
	update(x);
	update(y);
	return y;
}

/* Walk from @n to the root restoring heights and balance. */
static void rebalance(struct iova_tree *t, struct iova_node *n)
{
	while (n) {
		int old = n->height, bal;

		update(n);
		bal = height(n->left) - height(n->right);
		if (bal > 1) {
			if (height(n->left->left) < height(n->left->right))
				rotate_left(t, n->left);
			n = rotate_right(t, n);
		} else if (bal < -1) {
			if (height(n->right->right) < height(n->right->left))
				rotate_right(t, n->right);
			n = rotate_left(t, n);
		} else if (n->height == old && old != 0) {
			/* Nothing above can change any more. */
			return;
		}
		n = n->parent;
	}
}

int iova_tree_insert(struct iova_tree *t, struct iova_node *n)
{
	struct iova_node **link = &t->root, *parent = NULL;

	if (n->start > n->last)
		return -EINVAL;
	while (*link) {
		parent = *link;
		if (n->last < parent->start)
			link = &parent->left;
		else if (n->start > parent->last)
			link = &parent->right;
		else
			return -EEXIST;
	}
	n->left = n->right = NULL;
	n->parent = parent;
	n->height = 0; /* so rebalance() sees a change at the new leaf */
	*link = n;
	t->count++;
	rebalance(t, n);
	return 0;
}

static struct iova_node *leftmost(struct iova_node *n)
{
	while (n && n->left)
		n = n->left;
	return n;
}

static struct iova_node *rightmost(struct iova_node *n)
{
	while (n && n->right)
		n = n->right;
	return n;
}

void iova_tree_remove(struct iova_tree *t, struct iova_node *n)
{
	struct iova_node *fix;

	if (n->left && n->right) {
		/* Put the successor s in n's place. */
		struct iova_node *s = leftmost(n->right);

		if (s->parent != n) {
			struct iova_node *sp = s->parent;

			sp->left = s->right;
			if (s->right)
				s->right->parent = sp;
			s->right = n->right;
			n->right->parent = s;
			fix = sp;
		} else {
			fix = s;
		}
		s->left = n->left;
		n->left->parent = s;
		replace_child(t, n->parent, n, s);
		s->height = n->height;
	} else {
		struct iova_node *c = n->left ? n->left : n->right;

		fix = n->parent;
		replace_child(t, fix, n, c);
	}
	n->left = n->right = n->parent = NULL;
	t->count--;
	/* Heights below @fix changed; walk up restoring heights and balance.
	 * A node whose height comes out as stored before, with no rotation,
	 * ends the walk: every height above depends only on the heights
	 * below, which are then as before. (In the two-children case s took
	 * n's stored height, so the same holds when the walk reaches s.) */
	while (fix) {
		int old = fix->height, bal;

		update(fix);
		bal = height(fix->left) - height(fix->right);
		if (bal > 1) {
			if (height(fix->left->left) < height(fix->left->right))
				rotate_left(t, fix->left);
			fix = rotate_right(t, fix);
		} else if (bal < -1) {
			if (height(fix->right->right) <
			    height(fix->right->left))
				rotate_right(t, fix->right);
			fix = rotate_left(t, fix);
		} else if (fix->height == old) {
			return;
		}
		fix = fix->parent;
	}
}

struct iova_node *iova_tree_find(const struct iova_tree *t, uint64_t addr)
{
	struct iova_node *n = t->root;

	while (n) {
		if (addr < n->start)
			n = n->left;
		else if (addr > n->last)
			n = n->right;
		else
			return n;
	}
	return NULL;
}

struct iova_node *iova_tree_first_overlap(const struct iova_tree *t,
					  uint64_t start, uint64_t last)
{
	struct iova_node *n = t->root, *best = NULL;

	/* Nodes are disjoint and sorted: the first one ending at or after
	 * @start is the only candidate for the lowest overlap. */
	while (n) {
		if (n->last >= start) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best && best->start <= last ? best : NULL;
}

struct iova_node *iova_tree_last_overlap(const struct iova_tree *t,
					 uint64_t start, uint64_t last)
{
	struct iova_node *n = t->root, *best = NULL;

	/* The last node starting at or before @last is the only candidate
	 * for the highest overlap. */
	while (n) {
		if (n->start <= last) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best && best->last >= start ? best : NULL;
}

struct iova_node *iova_tree_first(const struct iova_tree *t)
{
	return leftmost(t->root);
}

struct iova_node *iova_tree_last(const struct iova_tree *t)
{
	return rightmost(t->root);
}

struct iova_node *iova_tree_next(const struct iova_node *n)
{
	const struct iova_node *p;

	if (n->right)
		return leftmost(n->right);
	p = n->parent;
	while (p && p->right == n) {
		n = p;
		p = p->parent;
	}
	return (struct iova_node *)p;
}

struct iova_node *iova_tree_prev(const struct iova_node *n)
{
	const struct iova_node *p;

	if (n->left)
		return rightmost(n->left);
	p = n->parent;
	while (p && p->left == n) {
		n = p;
		p = p->parent;
	}
	return (struct iova_node *)p;
}

/* Returns the height of @n's subtree, or -1 on a broken invariant. */
static int check_node(const struct iova_node *n, const struct iova_node *parent,
		      const uint64_t *lo, const uint64_t *hi, size_t *count)
{
	int l, r;

	if (!n)
		return 0;
	if (n->parent != parent || n->start > n->last)
		return -1;
	if ((lo && n->start <= *lo) || (hi && n->last >= *hi))
		return -1;
	(*count)++;
	l = check_node(n->left, n, lo, &n->start, count);
	r = check_node(n->right, n, &n->last, hi, count);
	if (l < 0 || r < 0 || l - r > 1 || r - l > 1)
		return -1;
	if (n->height != 1 + (l > r ? l : r))
		return -1;
	return n->height;
}

int iova_tree_check(const struct iova_tree *t)
{
	size_t count = 0;

	if (check_node(t->root, NULL, NULL, NULL, &count) < 0)
		return -EPROTO;
	return count == t->count ? 0 : -EPROTO;
}
