/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART at 0x3f8 (COM1) on IRQ 4, wired to stdin/stdout.
 *
 * Only what Linux's 8250 driver uses: the divisor latch, IER, IIR with the
 * FIFO bits, LCR, MCR with loopback, LSR, MSR and the scratch register.
 * Transmit is synchronous (a byte written to THR goes to stdout at once),
 * so THR is always empty and the "THR empty" interrupt fires right after
 * each write while IER asks for it. Received bytes queue in a ring filled
 * by the main loop from stdin.
 *
 * The IRQ line follows "an interrupt is pending" as a level; the IOAPIC pin
 * is edge-triggered, so a new event raises a new edge once the driver has
 * drained the previous ones (it loops on IIR until nothing is pending).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define COM1_BASE 0x3f8

enum {
	UART_RX = 0, UART_IER = 1, UART_IIR = 2, UART_LCR = 3, UART_MCR = 4,
	UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define IER_RDI   0x01
#define IER_THRI  0x02
#define IIR_NONE  0x01
#define IIR_THRI  0x02
#define IIR_RDI   0x04
#define IIR_FIFO  0xc0
#define LCR_DLAB  0x80
#define MCR_LOOP  0x10
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define LSR_TEMT  0x40

#define RX_RING 4096

static struct {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending;
	bool seen_output; /* the guest has written to the console */
	int irq_level;
	uint8_t rx[RX_RING];
	unsigned rx_head, rx_tail;   /* head: next to read, tail: next free */
} u = { .lock = PTHREAD_MUTEX_INITIALIZER, .dll = 12 };

static bool rx_ready(void)
{
	return u.rx_head != u.rx_tail;
}

static uint8_t iir(void)
{
	uint8_t fifo = (u.fcr & 1) ? IIR_FIFO : 0;
	if ((u.ier & IER_RDI) && rx_ready())
		return IIR_RDI | fifo;
	if ((u.ier & IER_THRI) && u.thri_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* with the lock held: drive IRQ 4 to match the pending state */
static void update_irq(void)
{
	int level = !(iir() & IIR_NONE);
	if (level != u.irq_level) {
		u.irq_level = level;
		vm_set_irq(u.vm, SERIAL_IRQ, level);
	}
}

/* A byte the guest sends: to stdout, or back to the receiver in loopback */
static void transmit(uint8_t v)
{
	if (u.mcr & MCR_LOOP) {
		if (u.rx_tail - u.rx_head < RX_RING)
			u.rx[u.rx_tail++ % RX_RING] = v;
	} else {
		if (!u.seen_output) { /* before the byte */
			u.seen_output = true;
			vmm_info("first console output after %.3f s",
				 vmm_elapsed());
		}
		ssize_t n = write(STDOUT_FILENO, &v, 1);
		(void)n;
	}
	u.thri_pending = true;
}

/* A guest write of register off; with u.lock held */
static void uart_write(uint64_t off, uint8_t v)
{
	bool dlab = u.lcr & LCR_DLAB;
	switch (off) {
	case UART_RX:
		if (dlab)
			u.dll = v;
		else
			transmit(v);
		break;
	case UART_IER:
		if (dlab) {
			u.dlm = v;
		} else {
			/* enabling THRI with THR empty raises it */
			if ((v & IER_THRI) && !(u.ier & IER_THRI))
				u.thri_pending = true;
			u.ier = v & 0x0f;
		}
		break;
	case UART_IIR: /* FCR on write */
		u.fcr = v & 0xc9;
		if (v & 0x02) /* clear the receive FIFO */
			u.rx_head = u.rx_tail;
		break;
	case UART_LCR:
		u.lcr = v;
		break;
	case UART_MCR:
		u.mcr = v & 0x1f;
		break;
	case UART_SCR:
		u.scr = v;
		break;
	default:
		break; /* LSR, MSR: read-only */
	}
}

/* The modem status: a modem that is always there, or in loopback the
 * modem control outputs (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD) */
static uint8_t msr(void)
{
	if (!(u.mcr & MCR_LOOP))
		return 0xb0; /* DCD | DSR | CTS */
	return (uint8_t)(((u.mcr & 0x01) << 5) | ((u.mcr & 0x02) << 3) |
			 ((u.mcr & 0x04) << 4) | ((u.mcr & 0x08) << 4));
}

/* A guest read of register off into *b; with u.lock held */
static void uart_read(uint64_t off, uint8_t *b)
{
	bool dlab = u.lcr & LCR_DLAB;
	switch (off) {
	case UART_RX:
		if (dlab)
			*b = u.dll;
		else if (rx_ready())
			*b = u.rx[u.rx_head++ % RX_RING];
		else
			*b = 0;
		break;
	case UART_IER:
		*b = dlab ? u.dlm : u.ier;
		break;
	case UART_IIR:
		*b = iir();
		if ((*b & 0x0f) == IIR_THRI) /* reading IIR acks it */
			u.thri_pending = false;
		break;
	case UART_LCR:
		*b = u.lcr;
		break;
	case UART_MCR:
		*b = u.mcr;
		break;
	case UART_LSR:
		*b = LSR_THRE | LSR_TEMT | (rx_ready() ? LSR_DR : 0);
		break;
	case UART_MSR:
		*b = msr();
		break;
	case UART_SCR:
		*b = u.scr;
		break;
	}
}

static void serial_io(void *opaque, uint64_t off, void *data, unsigned len,
		      bool is_write)
{
	(void)opaque;
	if (len != 1) {             /* the 8250 is a byte device */
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&u.lock);
	if (is_write)
		uart_write(off, *(uint8_t *)data);
	else
		uart_read(off, data);
	update_irq();
	pthread_mutex_unlock(&u.lock);
}

void serial_input(const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&u.lock);
	for (size_t i = 0; i < len; i++) {
		if (u.rx_tail - u.rx_head >= RX_RING)
			break;              /* full: drop, like a real overrun */
		u.rx[u.rx_tail++ % RX_RING] = buf[i];
	}
	update_irq();
	pthread_mutex_unlock(&u.lock);
}

bool serial_output_seen(void)
{
	pthread_mutex_lock(&u.lock);
	bool seen = u.seen_output;
	pthread_mutex_unlock(&u.lock);
	return seen;
}

int serial_init(struct vm *vm)
{
	u.vm = vm;
	return io_register(IO_PORT, COM1_BASE, 8, serial_io, NULL);
}
