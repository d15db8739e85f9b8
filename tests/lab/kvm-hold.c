// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kvm-hold: lab guest helper (run-lab.sh builds it, guest-init.sh starts
 * it). Holds one KVM VM with one vCPU and its in-kernel LAPIC for the
 * whole life of the lab guest, and never runs it.
 *
 * Why: QEMU 7.2's TCG can leave one vCPU executing a stale copy of kernel
 * text that another vCPU has just patched. Creating or destroying a KVM VM
 * flips static keys (the preempt notifiers in __schedule, the "LAPIC
 * software-disabled" key) whenever the number of VMs goes from 0 to 1 or
 * back, and the kernel patches those call sites with int3 breakpoints
 * (text_poke_bp). Seen in the lab: one CPU spinning on an int3 that memory
 * no longer holds (the kernel's int3 handler finds no breakpoint and
 * retries the instruction), inside __schedule with interrupts off, while
 * the other CPU waits for it in an IPI (kvm_destroy_vm ->
 * hardware_disable_all): the whole lab guest stalls, no test output,
 * soft lockups. With one VM held from boot on, the counts never go back to
 * zero, so running inner VMs patches no kernel text and no longer sends
 * the hardware enable/disable IPIs. guest-init.sh takes the other CPUs
 * offline while this VM is made, so that one patch has no one to race.
 *
 * Prints nothing on success; returns when the VM is held (a child process
 * keeps it). Exit status 1 and a message on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "kvm-hold: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	int kvm, vm, vcpu;
	pid_t pid;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid > 0)
		return 0; /* the child holds the fds */
	setsid();
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	for (;;)
		pause();
}
