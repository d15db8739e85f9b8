// SPDX-License-Identifier: MIT
/*
 * Network devices through rtnetlink (libnl-route-3): the guard that keeps a
 * device whose interface carries traffic from being taken, and SR-IOV VF
 * settings programmed on the PF.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>
#include <netlink/route/route.h>

#include "core/sys.h"
#include "host/host.h"

/* libnl's NLE_* codes to errnos. */
static int nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_INVAL:
	case NLE_RANGE:
		return -EINVAL;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_AF_NOSUPPORT:
	case NLE_PROTO_MISMATCH:
		return -EPROTONOSUPPORT;
	default:
		return -EIO;
	}
}

static int nl_open(struct assign_ctx *ctx, struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return set_error(ctx, -ENOMEM, "out of memory");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return set_error(ctx, nl_errno(r),
				 "cannot open an rtnetlink socket: %s",
				 nl_geterror(r));
	}
	*ret = sk;
	return 0;
}

/* Append @s to @buf (", "-separated) while it fits; count what didn't. */
static void list_add(char *buf, size_t size, const char *s, unsigned *dropped)
{
	size_t len = strlen(buf);

	if (len + strlen(s) + 3 >= size) {
		(*dropped)++;
		return;
	}
	snprintf(buf + len, size - len, "%s%s", len ? ", " : "", s);
}

struct usage {
	int ifindex;
	unsigned naddr, nroute, addr_dropped, route_dropped;
	char addrs[160];
	char routes[160];
};

static void addr_cb(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct usage *u = arg;
	char s[INET6_ADDRSTRLEN + 8];

	if (rtnl_addr_get_ifindex(a) != u->ifindex)
		return;
	/* Every IPv6 interface that is up has a link-local address: it says
	 * nothing about the interface being in use. */
	if (rtnl_addr_get_family(a) == AF_INET6 &&
	    rtnl_addr_get_scope(a) == RT_SCOPE_LINK)
		return;
	u->naddr++;
	nl_addr2str(rtnl_addr_get_local(a), s, sizeof(s));
	list_add(u->addrs, sizeof(u->addrs), s, &u->addr_dropped);
}

static void route_cb(struct nl_object *obj, void *arg)
{
	struct rtnl_route *rt = (struct rtnl_route *)obj;
	struct usage *u = arg;
	struct nl_addr *dst = rtnl_route_get_dst(rt);
	char s[128], d[INET6_ADDRSTRLEN + 8], g[INET6_ADDRSTRLEN + 8];
	bool uses = false;
	int nnh;

	if (rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(rt) != RTN_UNICAST)
		return;
	nnh = rtnl_route_get_nnexthops(rt);
	g[0] = '\0';
	for (int i = 0; i < nnh; i++) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, i);

		if (nh && rtnl_route_nh_get_ifindex(nh) == u->ifindex) {
			struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
			uses = true;
			if (gw)
				nl_addr2str(gw, g, sizeof(g));
			break;
		}
	}
	if (!uses)
		return;
	if (rtnl_route_get_family(rt) == AF_INET6 && dst &&
	    nl_addr_get_prefixlen(dst) >= 10) {
		const uint8_t *b = nl_addr_get_binary_addr(dst);
		/* fe80::/10 link-local, made by the kernel for every link. */
		if (b && b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
			return;
	}
	u->nroute++;
	if (!dst || nl_addr_get_prefixlen(dst) == 0)
		snprintf(d, sizeof(d), "default");
	else
		nl_addr2str(dst, d, sizeof(d));
	if (g[0])
		snprintf(s, sizeof(s), "%s via %s", d, g);
	else
		snprintf(s, sizeof(s), "%s", d);
	list_add(u->routes, sizeof(u->routes), s, &u->route_dropped);
}

static int check_ifname(struct assign_ctx *ctx, struct nl_sock *sk,
			struct nl_cache *acache, struct nl_cache *rcache,
			const char *addr, const char *ifname)
{
	struct rtnl_link *link = NULL;
	struct usage u = { 0 };
	char what[400];
	int r;

	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r < 0) {
		/* Another network namespace, or renamed meanwhile. */
		dbg(ctx, "%s: interface %s not found here: %s", addr, ifname,
		    nl_geterror(r));
		return 0;
	}
	u.ifindex = rtnl_link_get_ifindex(link);
	if (!(rtnl_link_get_flags(link) & IFF_UP)) {
		rtnl_link_put(link);
		return 0;
	}
	rtnl_link_put(link);
	nl_cache_foreach(acache, addr_cb, &u);
	nl_cache_foreach(rcache, route_cb, &u);
	if (!u.naddr && !u.nroute)
		return 0;

	what[0] = '\0';
	if (u.naddr)
		snprintf(what, sizeof(what), "%s%s", u.addrs,
			 u.addr_dropped ? ", ..." : "");
	if (u.nroute) {
		size_t len = strlen(what);
		snprintf(what + len, sizeof(what) - len,
			 "%s%u route%s (%s%s)", len ? " and " : "", u.nroute,
			 u.nroute == 1 ? "" : "s", u.routes,
			 u.route_dropped ? ", ..." : "");
	}
	return set_error(ctx, -EBUSY,
			 "%s of %s is up with %s; take it down with 'ip link "
			 "set %s down' or force it (assign-host bind --force)",
			 ifname, addr, what, ifname);
}

ASSIGN_EXPORT int assign_host_netdev_check(struct assign_ctx *ctx,
					   const char *address)
{
	char addr[ASSIGN_PCI_ADDR_LEN], names[ASSIGN_HOST_MAX_NETDEVS][16];
	struct nl_cache *acache = NULL, *rcache = NULL;
	struct nl_sock *sk = NULL;
	unsigned n = 0;
	int r;

	if (!ctx)
		return -EINVAL;
	r = host_canon_addr(ctx, address, addr);
	if (r < 0)
		return r;
	r = host_netdevs(ctx, addr, names, ASSIGN_HOST_MAX_NETDEVS, &n);
	if (r < 0)
		return set_error(ctx, r, "cannot list the interfaces of %s: %s",
				 addr, strerror(-r));
	if (n == 0)
		return 0;
	r = nl_open(ctx, &sk);
	if (r < 0)
		return r;
	r = rtnl_addr_alloc_cache(sk, &acache);
	if (r >= 0)
		r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &rcache);
	if (r < 0) {
		r = set_error(ctx, nl_errno(r),
			      "cannot read addresses and routes: %s",
			      nl_geterror(r));
		goto out;
	}
	for (unsigned i = 0; i < n && r >= 0; i++)
		r = check_ifname(ctx, sk, acache, rcache, addr, names[i]);
out:
	nl_cache_free(acache);
	nl_cache_free(rcache);
	nl_socket_free(sk);
	return r < 0 ? r : 0;
}

/* ---- SR-IOV VF settings ----------------------------------------------- */

static int vf_locate(struct assign_ctx *ctx, const char *vf, char *pf,
		     char *pf_ifname, uint32_t *index)
{
	struct assign_host_device *pfdev = NULL;
	char path[128], names[ASSIGN_HOST_MAX_NETDEVS][16];
	unsigned n = 0;
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s", vf);
	if (sysfs_exists(ctx, path) < 0)
		return set_error(ctx, -ENODEV, "no PCI device %s", vf);
	snprintf(path, sizeof(path), "bus/pci/devices/%s/physfn", vf);
	r = sysfs_link_name(ctx, path, pf, ASSIGN_PCI_ADDR_LEN);
	if (r < 0)
		return set_error(ctx, -ENODEV,
				 "%s is not an SR-IOV VF (no physfn link); "
				 "give the address of a VF",
				 vf);
	r = assign_host_device_get(ctx, pf, &pfdev);
	if (r < 0)
		return r;
	r = -ENODEV;
	for (size_t i = 0; i < pfdev->n_vfs; i++)
		if (!strcmp(pfdev->vfs[i], vf)) {
			*index = (uint32_t)i;
			r = 0;
		}
	assign_host_device_free(pfdev);
	if (r < 0)
		return set_error(ctx, r, "%s has no virtfn link to %s", pf, vf);
	r = host_netdevs(ctx, pf, names, ASSIGN_HOST_MAX_NETDEVS, &n);
	if (r < 0 || n == 0)
		return set_error(ctx, -ENODEV,
				 "the PF %s of %s has no network interface; "
				 "VF settings go through the PF's network "
				 "driver (is it bound to it?)",
				 pf, vf);
	snprintf(pf_ifname, 16, "%s", names[0]);
	return 0;
}

static int vf_check_cfg(struct assign_ctx *ctx,
			const struct assign_host_vf_config *cfg,
			struct assign_host_vf_config *c)
{
	const uint32_t all = ASSIGN_HOST_VF_F_MAC | ASSIGN_HOST_VF_F_VLAN |
			     ASSIGN_HOST_VF_F_SPOOFCHK | ASSIGN_HOST_VF_F_TRUST |
			     ASSIGN_HOST_VF_F_LINK_STATE;
	static const uint8_t zero[6];
	int r;

	if (!cfg)
		return set_error(ctx, -EINVAL, "no VF settings given");
	r = SIZED_IN(ctx, c, cfg, "assign_host_vf_config");
	if (r < 0)
		return r;
	if (c->set & ~all)
		return set_error(ctx, -EINVAL, "unknown VF setting bits 0x%x",
				 c->set & ~all);
	if (!c->set)
		return set_error(ctx, -EINVAL, "no VF setting given");
	if ((c->set & ASSIGN_HOST_VF_F_MAC) &&
	    ((c->mac[0] & 1) || !memcmp(c->mac, zero, 6)))
		return set_error(ctx, -EINVAL,
				 "VF MAC %02x:%02x:%02x:%02x:%02x:%02x is "
				 "multicast or zero; give a unicast address",
				 c->mac[0], c->mac[1], c->mac[2], c->mac[3],
				 c->mac[4], c->mac[5]);
	if ((c->set & ASSIGN_HOST_VF_F_VLAN) && (c->vlan > 4095 || c->qos > 7))
		return set_error(ctx, -EINVAL,
				 "VF VLAN %u qos %u out of range (0-4095, 0-7)",
				 c->vlan, c->qos);
	if ((c->set & ASSIGN_HOST_VF_F_LINK_STATE) &&
	    (unsigned)c->link_state > ASSIGN_HOST_VF_LINK_DISABLE)
		return set_error(ctx, -EINVAL, "VF link state %d unknown",
				 (int)c->link_state);
	return 0;
}

static int vf_set_vlan(struct assign_ctx *ctx, struct rtnl_link_vf *vfo,
		       const struct assign_host_vf_config *c)
{
	nl_vf_vlans_t *vl = NULL;

	if (rtnl_link_vf_vlan_alloc(&vl, 1) < 0)
		return set_error(ctx, -ENOMEM, "out of memory");
	vl->vlans[0].vf_vlan = c->vlan;
	vl->vlans[0].vf_vlan_qos = c->qos;
	vl->vlans[0].vf_vlan_proto = ETH_P_8021Q;
	rtnl_link_vf_set_vlans(vfo, vl);
	rtnl_link_vf_vlan_put(vl);
	return 0;
}

/* Put the settings @c asks for on @vfo, the VF @index object. */
static int vf_settings(struct assign_ctx *ctx, struct rtnl_link_vf *vfo,
		       uint32_t index, const struct assign_host_vf_config *c)
{
	int r;

	rtnl_link_vf_set_index(vfo, index);
	if (c->set & ASSIGN_HOST_VF_F_MAC) {
		struct nl_addr *a = nl_addr_build(AF_LLC, c->mac, 6);

		if (!a)
			return set_error(ctx, -ENOMEM, "out of memory");
		rtnl_link_vf_set_addr(vfo, a);
		nl_addr_put(a);
	}
	if (c->set & ASSIGN_HOST_VF_F_VLAN) {
		r = vf_set_vlan(ctx, vfo, c);
		if (r < 0)
			return r;
	}
	if (c->set & ASSIGN_HOST_VF_F_SPOOFCHK)
		rtnl_link_vf_set_spoofchk(vfo, c->spoofchk);
	if (c->set & ASSIGN_HOST_VF_F_TRUST)
		rtnl_link_vf_set_trust(vfo, c->trust);
	if (c->set & ASSIGN_HOST_VF_F_LINK_STATE)
		rtnl_link_vf_set_linkstate(vfo, (uint32_t)c->link_state);
	return 0;
}

/* The message for @nlerr, the PF @ifname's answer to the VF settings. */
static int vf_change_error(struct assign_ctx *ctx, int nlerr,
			   const char *ifname, uint32_t index, const char *what)
{
	int e = nl_errno(nlerr);

	if (e == -EOPNOTSUPP)
		return set_error(ctx, e,
				 "the driver of %s does not support "
				 "one of the VF settings for VF %u%s",
				 ifname, index, what);
	if (e == -EPERM || e == -EACCES)
		return set_error(ctx, e,
				 "setting VF %u on %s needs CAP_NET_ADMIN; "
				 "run as root",
				 index, ifname);
	if (e == -EINVAL)
		return set_error(ctx, e,
				 "%s refused the settings for VF %u%s "
				 "(no such VF? check sriov_numvfs)",
				 ifname, index, what);
	return set_error(ctx, e, "setting VF %u%s on %s failed: %s", index,
			 what, ifname, nl_geterror(nlerr));
}

/* Program VF @index on interface @ifname (the PF's). @what names the VF in
 * messages. */
static int vf_program(struct assign_ctx *ctx, const char *ifname,
		      uint32_t index, const struct assign_host_vf_config *c,
		      const char *what)
{
	struct rtnl_link *link = NULL, *changes = NULL;
	struct rtnl_link_vf *vfo = NULL;
	struct nl_sock *sk = NULL;
	int r;

	r = nl_open(ctx, &sk);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r < 0) {
		r = set_error(ctx, nl_errno(r),
			      "PF interface %s not found: %s", ifname,
			      nl_geterror(r));
		goto out;
	}
	changes = rtnl_link_alloc();
	vfo = rtnl_link_vf_alloc();
	if (!changes || !vfo) {
		r = set_error(ctx, -ENOMEM, "out of memory");
		goto out;
	}
	r = vf_settings(ctx, vfo, index, c);
	if (r < 0)
		goto out;
	r = rtnl_link_vf_add(changes, vfo);
	if (r < 0) {
		r = set_error(ctx, nl_errno(r), "cannot build VF settings: %s",
			      nl_geterror(r));
		goto out;
	}
	r = rtnl_link_change(sk, link, changes, 0);
	if (r < 0) {
		r = vf_change_error(ctx, r, ifname, index, what);
		goto out;
	}
	info(ctx, "VF %u%s of %s configured", index, what, ifname);
	r = 0;
out:
	rtnl_link_vf_put(vfo);
	rtnl_link_put(changes);
	rtnl_link_put(link);
	nl_socket_free(sk);
	return r;
}

static int valid_ifname(struct assign_ctx *ctx, const char *ifname)
{
	if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ ||
	    strchr(ifname, '/'))
		return set_error(ctx, -EINVAL, "'%s' is not an interface name",
				 ifname ? ifname : "(null)");
	return 0;
}

ASSIGN_EXPORT int assign_host_vf_configure(
	struct assign_ctx *ctx, const char *vf_address,
	const struct assign_host_vf_config *cfg)
{
	char vf[ASSIGN_PCI_ADDR_LEN], pf[ASSIGN_PCI_ADDR_LEN], ifname[16];
	char what[ASSIGN_PCI_ADDR_LEN + 4];
	struct assign_host_vf_config c;
	uint32_t index = 0;
	int r;

	if (!ctx)
		return -EINVAL;
	r = host_canon_addr(ctx, vf_address, vf);
	if (r < 0)
		return r;
	r = vf_check_cfg(ctx, cfg, &c);
	if (r < 0)
		return r;
	r = vf_locate(ctx, vf, pf, ifname, &index);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), " (%s)", vf);
	return vf_program(ctx, ifname, index, &c, what);
}

ASSIGN_EXPORT int assign_host_vf_configure_netdev(
	struct assign_ctx *ctx, const char *pf_ifname, unsigned vf_index,
	const struct assign_host_vf_config *cfg)
{
	struct assign_host_vf_config c;
	int r;

	if (!ctx)
		return -EINVAL;
	r = valid_ifname(ctx, pf_ifname);
	if (r < 0)
		return r;
	r = vf_check_cfg(ctx, cfg, &c);
	if (r < 0)
		return r;
	return vf_program(ctx, pf_ifname, vf_index, &c, "");
}

/* ---- reading VF settings back ------------------------------------------ */

struct vf_query {
	uint32_t index;
	bool found;
	struct assign_host_vf_config *out;
};

static void vf_info_parse(struct nlattr *info, struct vf_query *q)
{
	struct nlattr *t[IFLA_VF_MAX + 1];
	struct assign_host_vf_config *o = q->out;

	if (nla_parse_nested(t, IFLA_VF_MAX, info, NULL) < 0 || !t[IFLA_VF_MAC])
		return;
	if (nla_len(t[IFLA_VF_MAC]) < (int)sizeof(struct ifla_vf_mac))
		return;
	const struct ifla_vf_mac *mac = nla_data(t[IFLA_VF_MAC]);
	if (mac->vf != q->index)
		return;
	q->found = true;
	memcpy(o->mac, mac->mac, 6);
	o->set |= ASSIGN_HOST_VF_F_MAC;
	if (t[IFLA_VF_VLAN] &&
	    nla_len(t[IFLA_VF_VLAN]) >= (int)sizeof(struct ifla_vf_vlan)) {
		const struct ifla_vf_vlan *v = nla_data(t[IFLA_VF_VLAN]);
		o->vlan = (uint16_t)v->vlan;
		o->qos = (uint8_t)v->qos;
		o->set |= ASSIGN_HOST_VF_F_VLAN;
	}
	if (t[IFLA_VF_SPOOFCHK] &&
	    nla_len(t[IFLA_VF_SPOOFCHK]) >= (int)sizeof(struct ifla_vf_spoofchk)) {
		const struct ifla_vf_spoofchk *v = nla_data(t[IFLA_VF_SPOOFCHK]);
		if (v->setting != (uint32_t)-1) {
			o->spoofchk = v->setting != 0;
			o->set |= ASSIGN_HOST_VF_F_SPOOFCHK;
		}
	}
	if (t[IFLA_VF_TRUST] &&
	    nla_len(t[IFLA_VF_TRUST]) >= (int)sizeof(struct ifla_vf_trust)) {
		const struct ifla_vf_trust *v = nla_data(t[IFLA_VF_TRUST]);
		if (v->setting != (uint32_t)-1) {
			o->trust = v->setting != 0;
			o->set |= ASSIGN_HOST_VF_F_TRUST;
		}
	}
	if (t[IFLA_VF_LINK_STATE] &&
	    nla_len(t[IFLA_VF_LINK_STATE]) >=
		    (int)sizeof(struct ifla_vf_link_state)) {
		const struct ifla_vf_link_state *v =
			nla_data(t[IFLA_VF_LINK_STATE]);
		o->link_state = (enum assign_host_vf_link)v->link_state;
		o->set |= ASSIGN_HOST_VF_F_LINK_STATE;
	}
}

static int vf_msg_cb(struct nl_msg *msg, void *arg)
{
	struct vf_query *q = arg;
	struct nlattr *tb[IFLA_MAX + 1], *vi;
	int rem;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb, IFLA_MAX,
			NULL) < 0 ||
	    !tb[IFLA_VFINFO_LIST])
		return NL_OK;
	nla_for_each_nested(vi, tb[IFLA_VFINFO_LIST], rem)
		if (nla_type(vi) == IFLA_VF_INFO && !q->found)
			vf_info_parse(vi, q);
	return NL_OK;
}

ASSIGN_EXPORT int assign_host_vf_get(struct assign_ctx *ctx,
				     const char *pf_ifname, unsigned vf_index,
				     struct assign_host_vf_config *cfg)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct vf_query q = { .index = vf_index };
	struct assign_host_vf_config c = { .size = sizeof(c) };
	struct nl_sock *sk = NULL;
	struct nl_msg *msg = NULL;
	int r;

	if (!ctx)
		return -EINVAL;
	r = sized_out_check(ctx, cfg, "assign_host_vf_config");
	if (r < 0)
		return r;
	r = valid_ifname(ctx, pf_ifname);
	if (r < 0)
		return r;
	q.out = &c;
	r = nl_open(ctx, &sk);
	if (r < 0)
		return r;
	msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, pf_ifname) < 0 ||
	    nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_VF) < 0) {
		r = set_error(ctx, -ENOMEM, "out of memory");
		goto out;
	}
	/* One reply (or an error), no ACK to wait for. */
	nl_socket_disable_auto_ack(sk);
	r = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, vf_msg_cb, &q);
	if (r >= 0)
		r = nl_send_auto(sk, msg);
	if (r >= 0)
		r = nl_recvmsgs_default(sk);
	if (r < 0) {
		r = set_error(ctx, nl_errno(r), "cannot read %s: %s", pf_ifname,
			      nl_geterror(r));
		goto out;
	}
	if (!q.found) {
		r = set_error(ctx, -ENOENT,
			      "%s reports no VF %u (check sriov_numvfs)",
			      pf_ifname, vf_index);
		goto out;
	}
	SIZED_OUT_FILL(cfg, &c);
	r = 0;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return r;
}
