/* SPDX-License-Identifier: MIT */
/*
 * libassign host preparation: find PCI devices, tell whether their IOMMU
 * group can be handed to VFIO and what stands in the way, move devices to
 * vfio-pci and back (remembering the driver they had, also across a crash),
 * guard network interfaces that are in use, and program SR-IOV VF settings
 * on the physical function before a VF is assigned.
 *
 * Discovery enumerates through libudev on the real system and reads every
 * attribute through the context's sysfs root, so a test can point the
 * context at a fake tree (see docs/host.md for the split). Binding writes
 * driver_override, <driver>/unbind and drivers_probe, keeps a record per
 * device in a state directory and waits for /dev/vfio/N with a udev
 * monitor. Network checks and VF settings use rtnetlink (libnl-route-3).
 *
 * Ownership follows one rule: what the library allocates for the caller
 * (a device description, a list, a report, a record) comes back through a
 * **ret out-parameter and is freed with the matching assign_host_*_free(),
 * which is NULL-safe and returns NULL; what the caller allocates (options,
 * VF settings) starts with a size field.
 *
 * These functions change host state and need root (CAP_SYS_ADMIN for
 * sysfs writes, CAP_NET_ADMIN for VF settings). Call them from one thread
 * at a time (the rule of <libassign/libassign.h>); a failure is the calling
 * thread's last error of the context, read with
 * assign_ctx_get_last_error(). Do not bind or unbind the same device from
 * two processes at once.
 */
#ifndef LIBASSIGN_HOST_H
#define LIBASSIGN_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ASSIGN_HOST_NAME_LEN - buffer size for driver and interface names */
#define ASSIGN_HOST_NAME_LEN 64
/** ASSIGN_HOST_MAX_NETDEVS - network interfaces reported per device */
#define ASSIGN_HOST_MAX_NETDEVS 4

/**
 * struct assign_host_device - what the host knows about one PCI device
 * @address: "dddd:bb:dd.f"
 * @addr: the same, parsed
 * @vendor: PCI vendor id
 * @device: PCI device id
 * @subsystem_vendor: subsystem vendor id (0 if unknown)
 * @subsystem_device: subsystem device id (0 if unknown)
 * @class_code: 24-bit class code (base, sub, prog-if), e.g. 0x020000
 * @driver: name of the bound driver, "" when none
 * @driver_override: content of driver_override, "" when unset
 * @is_vfio: @driver is vfio-pci or a vfio-pci variant driver
 *           (mlx5_vfio_pci, ...): the device can be opened through VFIO
 * @iommu_group: IOMMU group number, -1 when the device has none (no IOMMU
 *               or IOMMU disabled)
 * @is_bridge: a PCI-to-PCI bridge (class 0x0604) or a host/ISA bridge
 *             (class 0x06xx); bridges cannot be assigned themselves
 * @netdevs: network interfaces of the device (up to ASSIGN_HOST_MAX_NETDEVS)
 * @n_netdevs: how many names @netdevs holds
 * @sriov_totalvfs: VFs the device can make (0: not an SR-IOV PF)
 * @sriov_numvfs: VFs enabled now
 * @physfn: for a VF, the address of its PF; "" otherwise
 * @vf_index: for a VF, its index on the PF (virtfnN); -1 otherwise
 * @vfs: for a PF, the addresses of its enabled VFs, by index; NULL if none
 * @n_vfs: entries in @vfs
 * @vendor_name: vendor name from the udev hardware database, "" if unknown
 * @device_name: model name from the udev hardware database, "" if unknown
 *
 * Allocated by the library, freed with assign_host_device_free(); the
 * caller only reads it, so fields can be appended in later versions.
 */
struct assign_host_device {
	char address[ASSIGN_PCI_ADDR_LEN];
	struct assign_pci_addr addr;
	uint16_t vendor;
	uint16_t device;
	uint16_t subsystem_vendor;
	uint16_t subsystem_device;
	uint32_t class_code;
	char driver[ASSIGN_HOST_NAME_LEN];
	char driver_override[ASSIGN_HOST_NAME_LEN];
	bool is_vfio;
	int iommu_group;
	bool is_bridge;
	char netdevs[ASSIGN_HOST_MAX_NETDEVS][16];
	unsigned n_netdevs;
	uint32_t sriov_totalvfs;
	uint32_t sriov_numvfs;
	char physfn[ASSIGN_PCI_ADDR_LEN];
	int vf_index;
	char (*vfs)[ASSIGN_PCI_ADDR_LEN];
	size_t n_vfs;
	char vendor_name[128];
	char device_name[128];
};

/**
 * assign_host_device_get() - describe one PCI device
 * @ctx: the context
 * @address: PCI address, "dddd:bb:dd.f" or "bb:dd.f"
 * @ret: where to store the description (free with assign_host_device_free())
 *
 * Reads vendor, device, class, driver, driver_override, iommu_group, net/,
 * sriov_* and physfn/virtfnN below bus/pci/devices/@address in sysfs.
 *
 * Return: 0; -EINVAL (bad address or NULL argument); -ENODEV (no such
 * device: check the address with lspci -D); -ENOMEM; -EIO (unreadable
 * attributes).
 */
int assign_host_device_get(struct assign_ctx *ctx, const char *address,
			   struct assign_host_device **ret);

/**
 * assign_host_device_free() - free a device description
 * @dev: the description, or NULL
 *
 * Return: NULL.
 */
struct assign_host_device *
assign_host_device_free(struct assign_host_device *dev);

/**
 * struct assign_host_device_list - every PCI device of the host
 * @count: number of entries in @devices
 * @devices: the descriptions, sorted by address
 *
 * Allocated by the library, freed with assign_host_device_list_free().
 */
struct assign_host_device_list {
	size_t count;
	struct assign_host_device **devices;
};

/**
 * assign_host_list() - describe every PCI device of the host
 * @ctx: the context
 * @ret: where to store the list (free it with
 *       assign_host_device_list_free())
 *
 * On the real system the devices are enumerated through libudev (subsystem
 * "pci"), and vendor/model names come from the udev hardware database; when
 * the context's sysfs root is not /sys (tests), bus/pci/devices is listed.
 * A device that disappears while it is being read is skipped.
 *
 * Return: 0; -EINVAL; -ENOMEM; -ENOENT when there is no PCI bus in sysfs.
 */
int assign_host_list(struct assign_ctx *ctx,
		     struct assign_host_device_list **ret);

/**
 * assign_host_device_list_free() - free a list from assign_host_list()
 * @list: the list, or NULL
 *
 * Return: NULL.
 */
struct assign_host_device_list *
assign_host_device_list_free(struct assign_host_device_list *list);

/**
 * enum assign_host_action - what a group member needs so the group is viable
 * @ASSIGN_HOST_ACTION_NONE: fine as it is
 * @ASSIGN_HOST_ACTION_BIND_VFIO: bound to a driver that owns DMA; bind it
 *                                to vfio-pci (or unbind it)
 * @ASSIGN_HOST_ACTION_UNBIND: bound to a driver that owns DMA and cannot
 *                             be given to vfio-pci (a bridge); unbind it
 */
enum assign_host_action {
	ASSIGN_HOST_ACTION_NONE = 0,
	ASSIGN_HOST_ACTION_BIND_VFIO,
	ASSIGN_HOST_ACTION_UNBIND,
};

/**
 * struct assign_host_member - one device of an IOMMU group in a report
 * @address: "dddd:bb:dd.f"
 * @driver: bound driver, "" when none
 * @class_code: 24-bit class code
 * @is_bridge: a bridge (never assignable itself)
 * @blocks: the group is not viable while this device stays as it is
 * @action: what would unblock it
 * @reason: why it is fine or why it blocks, one line
 * @fix: shell commands that would unblock it ("" when nothing is needed)
 */
struct assign_host_member {
	char address[ASSIGN_PCI_ADDR_LEN];
	char driver[ASSIGN_HOST_NAME_LEN];
	uint32_t class_code;
	bool is_bridge;
	bool blocks;
	enum assign_host_action action;
	char reason[160];
	char fix[320];
};

/**
 * struct assign_host_group_report - viability of one IOMMU group
 * @group: the group number
 * @viable: no member blocks; VFIO can take the group
 * @n_blocking: how many members block
 * @n_members: entries in @members
 * @members: every device of the group, sorted by address
 *
 * Allocated by the library, freed with assign_host_group_report_free().
 */
struct assign_host_group_report {
	int group;
	bool viable;
	size_t n_blocking;
	size_t n_members;
	struct assign_host_member **members;
};

/**
 * assign_host_group_report() - tell whether VFIO can take an IOMMU group
 * @ctx: the context
 * @group: IOMMU group number
 * @ret: where to store the report (free with assign_host_group_report_free())
 *
 * Applies the kernel's rule (since Linux 5.19 a group is viable when no
 * member is bound to a driver that uses the kernel DMA API; before that,
 * when every bound driver was vfio-pci, pci-stub or pcieport): a member
 * without a driver, or bound to vfio-pci, a vfio-pci variant driver,
 * pci-stub or pcieport, is fine; any other driver blocks the group, and
 * the member's @fix tells the commands that would unblock it.
 *
 * Return: 0 (also for a non-viable group: read @viable); -EINVAL; -ENOENT
 * (no such group in kernel/iommu_groups: the IOMMU may be off; boot with
 * intel_iommu=on or amd_iommu=on); -ENOMEM; -EIO.
 */
int assign_host_group_report(struct assign_ctx *ctx, int group,
			     struct assign_host_group_report **ret);

/**
 * assign_host_group_report_free() - free a report
 * @report: the report, or NULL
 *
 * Return: NULL.
 */
struct assign_host_group_report *
assign_host_group_report_free(struct assign_host_group_report *report);

/**
 * assign_host_check_device() - can this device be opened through VFIO now?
 * @ctx: the context
 * @address: PCI address
 *
 * Checks that the device exists, has an IOMMU group, is bound to vfio-pci
 * (or a vfio-pci variant driver) and that its group is viable.
 *
 * Return: 0 when it can; -ENODEV (no such device, or not bound to
 * vfio-pci: the message names its driver and the command that binds it);
 * -ENOENT (no IOMMU group); -EBUSY (the group is not viable: the message
 * names the first blocking device, its driver and the fix); -ENOMEM; -EIO.
 */
int assign_host_check_device(struct assign_ctx *ctx, const char *address);

/** ASSIGN_HOST_F_FORCE - bind even if the device's interface is in use */
#define ASSIGN_HOST_F_FORCE (1u << 0)
/** ASSIGN_HOST_F_NO_WAIT - do not wait for /dev/vfio/N after binding */
#define ASSIGN_HOST_F_NO_WAIT (1u << 1)
/** ASSIGN_HOST_F_NO_RECORD - keep no state record (the caller restores) */
#define ASSIGN_HOST_F_NO_RECORD (1u << 2)
/** ASSIGN_HOST_F_GROUP - also clear the rest of the IOMMU group (bind) */
#define ASSIGN_HOST_F_GROUP (1u << 3)

/**
 * struct assign_host_opts - options for binding and restoring
 * @size: sizeof(struct assign_host_opts)
 * @flags: ASSIGN_HOST_F_FORCE, ASSIGN_HOST_F_NO_WAIT, ASSIGN_HOST_F_NO_RECORD,
 *         ASSIGN_HOST_F_GROUP
 * @driver: the driver to bind to; NULL means "vfio-pci"
 * @timeout_ms: how long to wait for /dev/vfio/N; 0 means 5000, negative
 *              means forever
 * @state_dir: directory of the records; NULL means $ASSIGN_STATE_DIR
 *             (ignored in a setuid or otherwise elevated process) or,
 *             when unset, /run/libassign. It must be a real directory
 *             (no symbolic link) owned by the process's user or root and
 *             writable by its owner only, below directories only root
 *             or that user own that others cannot write (unless sticky):
 *             otherwise every call that uses it fails with -EPERM
 * @dev_dir: where device nodes live; NULL means "/dev"
 */
struct assign_host_opts {
	size_t size;
	uint32_t flags;
	const char *driver;
	int timeout_ms;
	const char *state_dir;
	const char *dev_dir;
};

/**
 * assign_host_bind() - hand a device to vfio-pci
 * @ctx: the context
 * @address: PCI address
 * @opts: options, or NULL for the defaults
 *
 * Unless ASSIGN_HOST_F_FORCE is given, refuses a device whose network
 * interface is up and carries addresses or routes (see
 * assign_host_netdev_check()). Writes a record "<state_dir>/<address>"
 * holding the current driver and driver_override (unless one exists
 * already from an earlier bind, which is kept, or ASSIGN_HOST_F_NO_RECORD),
 * writes the driver name to driver_override, unbinds the current driver,
 * writes the address to bus/pci/drivers_probe, checks that the device is
 * now bound to the driver and, for vfio-pci, waits for /dev/vfio/N through
 * a udev monitor. Binding a device that is already bound to the driver
 * succeeds and changes nothing.
 *
 * With ASSIGN_HOST_F_GROUP (vfio-pci only), every other member of the
 * device's IOMMU group that blocks the group is handled first, as the
 * viability report says: endpoints are bound to vfio-pci, bridges
 * unbound, each with its own record (and the netdev guard) that names
 * @address ("for="), so that assign_host_restore() of @address puts them
 * back too. If any step fails, the members already handled are restored.
 * ASSIGN_HOST_F_GROUP cannot be combined with ASSIGN_HOST_F_NO_RECORD.
 *
 * Return: 0; -EINVAL; -ENODEV (no such device, or the driver is not
 * loaded: the message says "modprobe vfio-pci"); -EBUSY (interface in use;
 * the message names it and what it carries); -ENOENT (no IOMMU group);
 * -EIO (the driver did not take the device: see dmesg; or an existing
 * record is not valid); -ETIMEDOUT (no /dev/vfio/N in time; the device
 * stays bound); -EACCES (not root); -EPERM (not root, or a state
 * directory someone else could have written: the message says which);
 * -ENOMEM; other errors from sysfs or the state directory.
 */
int assign_host_bind(struct assign_ctx *ctx, const char *address,
		     const struct assign_host_opts *opts);

/**
 * assign_host_unbind() - detach a device from its driver
 * @ctx: the context
 * @address: PCI address
 * @opts: options, or NULL (ASSIGN_HOST_F_FORCE, ASSIGN_HOST_F_NO_RECORD,
 *        @state_dir and @dev_dir are used)
 *
 * Like assign_host_restore(), refuses a vfio-pci device another process
 * holds open unless ASSIGN_HOST_F_FORCE (which also skips the netdev
 * guard). Records the current driver as assign_host_bind() does and writes the
 * address to the driver's unbind file; driver_override is left alone. The
 * device stays without a driver until assign_host_restore(), a bind or the
 * next drivers_probe. Unbinding a device without a driver succeeds and
 * changes nothing.
 *
 * Return: 0; -EINVAL; -ENODEV; -EBUSY (interface or vfio device in use,
 * without ASSIGN_HOST_F_FORCE); -EACCES or -EPERM; other sysfs errors.
 */
int assign_host_unbind(struct assign_ctx *ctx, const char *address,
		       const struct assign_host_opts *opts);

/**
 * assign_host_restore() - give a device back to the driver it had
 * @ctx: the context
 * @address: PCI address
 * @opts: options, or NULL (@state_dir, @dev_dir and ASSIGN_HOST_F_FORCE
 *        are used)
 *
 * Refuses (-EBUSY, naming the process) a device bound to vfio-pci whose
 * /dev/vfio/N or vfio cdev another process holds open, unless
 * ASSIGN_HOST_F_FORCE: the kernel would block the unbind until that process
 * lets go. Reads the record "<state_dir>/<address>", unbinds the current driver,
 * puts driver_override back as it was, binds the recorded driver (through
 * its bind file, falling back to drivers_probe) and removes the record.
 * A record whose driver was "" leaves the device unbound. Then restores
 * every device whose record says it was moved for @address (by
 * ASSIGN_HOST_F_GROUP), but not the devices moved for those: a group
 * bind moves one level only. A record is checked as it is read (driver
 * names, a for= that names another device, nothing else unknown to it
 * that it could act on).
 *
 * Return: 0; -EINVAL; -ENOENT (no record: nothing to restore); -EBUSY
 * (in use, see above; or the driver refused to release it); -ENODEV
 * (device gone: the record is removed); -EIO (the recorded driver did not
 * take the device: the record is kept so a later restore can retry; or
 * the record is not valid: the message says why); -EACCES or -EPERM (not
 * root, or a state directory someone else could have written); other
 * sysfs errors.
 */
int assign_host_restore(struct assign_ctx *ctx, const char *address,
			const struct assign_host_opts *opts);

/**
 * struct assign_host_record - what assign_host_restore() will put back
 * @address: the device, "dddd:bb:dd.f"
 * @driver: the driver it had, "" for none
 * @driver_override: its driver_override then, "" when unset
 * @owner: "" or, for a group member moved by %ASSIGN_HOST_F_GROUP, the
 *         address of the device it was moved for (it goes back with it)
 *
 * Allocated by the library, freed with assign_host_record_free().
 */
struct assign_host_record {
	char address[ASSIGN_PCI_ADDR_LEN];
	char driver[ASSIGN_HOST_NAME_LEN];
	char driver_override[ASSIGN_HOST_NAME_LEN];
	char owner[ASSIGN_PCI_ADDR_LEN];
};

/**
 * assign_host_record_get() - read a device's state record
 * @ctx: the context
 * @address: PCI address
 * @opts: options, or NULL (@state_dir is used)
 * @ret: where to store the record (free it with assign_host_record_free())
 *
 * Return: 0; -EINVAL; -ENOENT (no record); -EIO (not a valid record: the
 * message names the file and what is wrong); -EPERM (a state directory
 * someone else could have written); -ENOMEM.
 */
int assign_host_record_get(struct assign_ctx *ctx, const char *address,
			   const struct assign_host_opts *opts,
			   struct assign_host_record **ret);

/**
 * assign_host_record_free() - free a record from assign_host_record_get()
 * @rec: the record, or NULL
 *
 * Return: NULL.
 */
struct assign_host_record *
assign_host_record_free(struct assign_host_record *rec);

/**
 * struct assign_host_record_list - the devices that have a state record
 * @count: number of entries in @addresses
 * @addresses: their PCI addresses, sorted
 *
 * Allocated by the library, freed with assign_host_record_list_free().
 */
struct assign_host_record_list {
	size_t count;
	char (*addresses)[ASSIGN_PCI_ADDR_LEN];
};

/**
 * assign_host_records() - the devices that have a state record
 * @ctx: the context
 * @opts: options, or NULL (@state_dir is used)
 * @ret: where to store the list (free it with
 *       assign_host_record_list_free()); read each record with
 *       assign_host_record_get()
 *
 * Return: 0 (also when the state directory does not exist: an empty
 * list); -EINVAL; -EPERM (a state directory someone else could have
 * written); -ENOMEM; errors reading the directory.
 */
int assign_host_records(struct assign_ctx *ctx,
			const struct assign_host_opts *opts,
			struct assign_host_record_list **ret);

/**
 * assign_host_record_list_free() - free a list from assign_host_records()
 * @list: the list, or NULL
 *
 * Return: NULL.
 */
struct assign_host_record_list *
assign_host_record_list_free(struct assign_host_record_list *list);

/**
 * assign_host_wait_vfio() - wait until /dev/vfio/N of a group exists
 * @ctx: the context
 * @group: the IOMMU group number
 * @opts: options, or NULL (@timeout_ms and @dev_dir are used)
 *
 * Watches udev (or, without a udev daemon, the kernel's uevents) for the
 * vfio subsystem and checks the node after each event, so it returns as
 * soon as the node appears.
 *
 * Return: 0; -EINVAL; -ETIMEDOUT (the message says how long it waited);
 * -ENOMEM.
 */
int assign_host_wait_vfio(struct assign_ctx *ctx, int group,
			  const struct assign_host_opts *opts);

/**
 * assign_host_netdev_check() - is a device's network interface in use?
 * @ctx: the context
 * @address: PCI address
 *
 * For each interface in bus/pci/devices/@address/net, asks rtnetlink (in
 * the caller's network namespace) whether it is up and which addresses
 * (other than IPv6 link-local ones) and routes (main table, other than
 * IPv6 link-local and multicast) use it.
 *
 * Return: 0 when no interface is in use (or the device has none); -EBUSY
 * with a message such as "eth0 of 0000:00:03.0 is up with 10.0.2.15/24 and
 * 2 routes (default via 10.0.2.2); take it down with 'ip link set eth0
 * down' or force"; -EINVAL; -ENOMEM; a negative errno from netlink.
 */
int assign_host_netdev_check(struct assign_ctx *ctx, const char *address);

/** ASSIGN_HOST_VF_F_MAC - set @mac */
#define ASSIGN_HOST_VF_F_MAC (1u << 0)
/** ASSIGN_HOST_VF_F_VLAN - set @vlan and @qos */
#define ASSIGN_HOST_VF_F_VLAN (1u << 1)
/** ASSIGN_HOST_VF_F_SPOOFCHK - set @spoofchk */
#define ASSIGN_HOST_VF_F_SPOOFCHK (1u << 2)
/** ASSIGN_HOST_VF_F_TRUST - set @trust */
#define ASSIGN_HOST_VF_F_TRUST (1u << 3)
/** ASSIGN_HOST_VF_F_LINK_STATE - set @link_state */
#define ASSIGN_HOST_VF_F_LINK_STATE (1u << 4)

/**
 * enum assign_host_vf_link - administrative link state of a VF
 * @ASSIGN_HOST_VF_LINK_AUTO: follow the PF's link
 * @ASSIGN_HOST_VF_LINK_ENABLE: always up
 * @ASSIGN_HOST_VF_LINK_DISABLE: always down
 */
enum assign_host_vf_link {
	ASSIGN_HOST_VF_LINK_AUTO = 0,
	ASSIGN_HOST_VF_LINK_ENABLE = 1,
	ASSIGN_HOST_VF_LINK_DISABLE = 2,
};

/**
 * struct assign_host_vf_config - SR-IOV VF settings, programmed on the PF
 * @size: sizeof(struct assign_host_vf_config)
 * @set: which fields to apply, ASSIGN_HOST_VF_* bits
 * @mac: the VF's MAC address
 * @vlan: VLAN id 0-4095 (0: no VLAN)
 * @qos: 802.1p priority 0-7
 * @spoofchk: drop frames whose source MAC is not the VF's
 * @trust: let the VF change its MAC and use promiscuous modes
 * @link_state: administrative link state
 */
struct assign_host_vf_config {
	size_t size;
	uint32_t set;
	uint8_t mac[6];
	uint16_t vlan;
	uint8_t qos;
	bool spoofchk;
	bool trust;
	enum assign_host_vf_link link_state;
};

/**
 * assign_host_vf_configure() - program a VF's settings on its PF
 * @ctx: the context
 * @vf_address: PCI address of the VF
 * @cfg: the settings
 *
 * Finds the PF (physfn link), the VF's index (the PF's virtfnN link that
 * points at @vf_address) and the PF's network interface, then sends one
 * RTM_SETLINK with the VF settings. Do it before the VF is bound to
 * vfio-pci, or the guest driver may miss the change.
 *
 * Return: 0; -EINVAL (bad arguments: vlan above 4095, qos above 7, a
 * multicast or zero MAC, unknown @set bits); -ENODEV (not a VF, or its PF
 * has no network interface); -EOPNOTSUPP (the PF driver does not support
 * that setting); -EPERM (needs CAP_NET_ADMIN); a negative errno from
 * netlink.
 */
int assign_host_vf_configure(struct assign_ctx *ctx, const char *vf_address,
			     const struct assign_host_vf_config *cfg);

/**
 * assign_host_vf_configure_netdev() - program VF settings by PF interface
 * @ctx: the context
 * @pf_ifname: the PF's network interface, e.g. "enp3s0f0"
 * @vf_index: the VF's index on the PF (the N of virtfnN)
 * @cfg: the settings
 *
 * The same as assign_host_vf_configure() for callers that know the PF's
 * interface and the VF index rather than the VF's PCI address (and for
 * VFs that are not PCI functions, such as netdevsim's).
 *
 * Return: 0; -EINVAL (bad arguments, or the driver refused the VF
 * index); -ENODEV (no such interface); -EOPNOTSUPP; -EPERM; a negative
 * errno from netlink.
 */
int assign_host_vf_configure_netdev(struct assign_ctx *ctx,
				    const char *pf_ifname, unsigned vf_index,
				    const struct assign_host_vf_config *cfg);

/**
 * assign_host_vf_get() - read a VF's settings back from its PF
 * @ctx: the context
 * @pf_ifname: the PF's network interface
 * @vf_index: the VF's index on the PF
 * @cfg: filled up to @cfg->size (set that first); @cfg->set tells which
 *       fields the driver reported
 *
 * Sends RTM_GETLINK with IFLA_EXT_MASK = RTEXT_FILTER_VF and reads the
 * PF's IFLA_VFINFO_LIST.
 *
 * Return: 0; -EINVAL; -ENODEV (no such interface); -ENOENT (the PF
 * reports no such VF); a negative errno from netlink.
 */
int assign_host_vf_get(struct assign_ctx *ctx, const char *pf_ifname,
		       unsigned vf_index, struct assign_host_vf_config *cfg);

/**
 * assign_host_sriov_set_numvfs() - enable a number of VFs on a PF
 * @ctx: the context
 * @pf_address: PCI address of the PF
 * @numvfs: VFs to enable; 0 disables SR-IOV
 *
 * Writes sriov_numvfs (0 first when VFs are already enabled, as the kernel
 * requires to change the number).
 *
 * Return: 0; -EINVAL; -ENODEV (not an SR-IOV PF); -ERANGE (more than
 * sriov_totalvfs); -EBUSY (VFs in use); other sysfs errors.
 */
int assign_host_sriov_set_numvfs(struct assign_ctx *ctx,
				 const char *pf_address, unsigned numvfs);

/** ASSIGN_HOST_UUID_LEN - buffer size for a UUID in its text form */
#define ASSIGN_HOST_UUID_LEN 37

/**
 * struct assign_host_mdev_type - a type of mediated device a parent offers
 * @parent: the parent device, as /sys/class/mdev_bus names it ("mtty",
 *          "0000:00:02.0")
 * @type: the type, as sysfs names it ("mtty-1", "i915-GVTg_V5_4")
 * @name: its name ("Single port serial"), "" when the driver gives none
 * @device_api: the VFIO API its instances speak ("vfio-pci")
 * @description: its description, "" when the driver gives none
 * @available: instances that can still be made
 * @n_instances: instances of it now
 */
struct assign_host_mdev_type {
	char parent[ASSIGN_HOST_NAME_LEN];
	char type[ASSIGN_HOST_NAME_LEN];
	char name[ASSIGN_HOST_NAME_LEN];
	char device_api[32];
	char description[256];
	unsigned available;
	unsigned n_instances;
};

/**
 * struct assign_host_mdev_type_list - the mdev types of every parent
 * @count: number of entries in @types
 * @types: the types, sorted by parent and type
 */
struct assign_host_mdev_type_list {
	size_t count;
	struct assign_host_mdev_type *types;
};

/**
 * assign_host_mdev_types() - the mdev types the host offers
 * @ctx: the context
 * @ret: where to store the list (free it with
 *       assign_host_mdev_type_list_free()); empty when no driver offers
 *       mdevs or the mdev core is not loaded
 *
 * Every parent in /sys/class/mdev_bus with every type in its
 * mdev_supported_types.
 *
 * Return: 0; -EINVAL; -ENOMEM; a sysfs error reading a type.
 */
int assign_host_mdev_types(struct assign_ctx *ctx,
			   struct assign_host_mdev_type_list **ret);

/**
 * assign_host_mdev_type_list_free() - free a list of mdev types
 * @list: the list, or NULL
 *
 * Return: NULL.
 */
struct assign_host_mdev_type_list *
assign_host_mdev_type_list_free(struct assign_host_mdev_type_list *list);

/**
 * struct assign_host_mdev - a mediated device
 * @uuid: its UUID, lower case
 * @parent: its parent device
 * @type: its type ("mtty-1")
 * @driver: the driver bound to it (its parent's: "mtty"), "" when none;
 *          with a driver it is a VFIO device
 * @iommu_group: its IOMMU group (VFIO makes one for each mdev), -1 when
 *               none
 * @vfio_cdev: its vfio cdev ("vfio3": /dev/vfio/devices/vfio3), "" when
 *             the kernel has none
 */
struct assign_host_mdev {
	char uuid[ASSIGN_HOST_UUID_LEN];
	char parent[ASSIGN_HOST_NAME_LEN];
	char type[ASSIGN_HOST_NAME_LEN];
	char driver[ASSIGN_HOST_NAME_LEN];
	int iommu_group;
	char vfio_cdev[32];
};

/**
 * struct assign_host_mdev_list - the mediated devices of the host
 * @count: number of entries in @mdevs
 * @mdevs: the devices, sorted by UUID
 */
struct assign_host_mdev_list {
	size_t count;
	struct assign_host_mdev *mdevs;
};

/**
 * assign_host_mdev_list() - the mediated devices that exist
 * @ctx: the context
 * @ret: where to store the list (free it with assign_host_mdev_list_free())
 *
 * Return: 0; -EINVAL; -ENOMEM; a sysfs error.
 */
int assign_host_mdev_list(struct assign_ctx *ctx,
			  struct assign_host_mdev_list **ret);

/**
 * assign_host_mdev_list_free() - free a list of mediated devices
 * @list: the list, or NULL
 *
 * Return: NULL.
 */
struct assign_host_mdev_list *
assign_host_mdev_list_free(struct assign_host_mdev_list *list);

/**
 * assign_host_mdev_get() - describe one mediated device
 * @ctx: the context
 * @name: its UUID or its path (/sys/bus/mdev/devices/UUID, /sys/devices/...)
 * @ret: where to store the description (free with assign_host_mdev_free())
 *
 * Return: 0; -EINVAL (not a UUID or a path in /sys); -ENODEV (no such
 * mdev, or the path leads to a device that is not one); -ENOMEM.
 */
int assign_host_mdev_get(struct assign_ctx *ctx, const char *name,
			 struct assign_host_mdev **ret);

/**
 * assign_host_mdev_free() - free an mdev description
 * @mdev: the description, or NULL
 *
 * Return: NULL.
 */
struct assign_host_mdev *assign_host_mdev_free(struct assign_host_mdev *mdev);

/**
 * struct assign_host_mdev_opts - options for assign_host_mdev_create()
 * @size: sizeof(struct assign_host_mdev_opts)
 * @parent: the parent to make it on; NULL when only one offers the type
 * @uuid: the UUID to give it; NULL makes a random one (version 4)
 */
struct assign_host_mdev_opts {
	size_t size;
	const char *parent;
	const char *uuid;
};

/**
 * assign_host_mdev_create() - make a mediated device
 * @ctx: the context
 * @type: its type, as assign_host_mdev_types() names it ("mtty-1")
 * @opts: options, or NULL
 * @ret: where to store its description (free with
 *       assign_host_mdev_free()); may be NULL
 *
 * Writes the UUID to the type's create attribute and checks the device
 * appeared on the mdev bus.
 *
 * Return: 0; -EINVAL (bad arguments, a malformed UUID); -ENOENT (no parent
 * offers @type, or not @opts->parent; the message lists the types);
 * -ENOTUNIQ (several parents offer it: name one); -ENOSPC (no instance of
 * it left); -EEXIST (the UUID is taken); -EACCES (not root); other errors
 * of the driver's create.
 */
int assign_host_mdev_create(struct assign_ctx *ctx, const char *type,
			    const struct assign_host_mdev_opts *opts,
			    struct assign_host_mdev **ret);

/**
 * assign_host_mdev_remove() - remove a mediated device
 * @ctx: the context
 * @name: its UUID or path
 * @opts: options, or NULL (ASSIGN_HOST_F_FORCE and @dev_dir are used)
 *
 * Writes its remove attribute. The kernel waits for a process that holds
 * it open through VFIO to let go; so, as restore does for PCI devices,
 * a device open in another process is refused, naming it, unless
 * ASSIGN_HOST_F_FORCE.
 *
 * Return: 0; -EINVAL; -ENODEV (no such mdev); -EBUSY (in use: the message
 * names the process); -EACCES; other sysfs errors.
 */
int assign_host_mdev_remove(struct assign_ctx *ctx, const char *name,
			    const struct assign_host_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_HOST_H */
