// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the text of a handoff message (src/iommu/handoff.c,
 * handoff_parse()), which a VMM receives from whatever is at the other end
 * of its socket.
 *
 * Input: the message. Checked: it is accepted or refused with -EPROTO and
 * a reason; what is accepted names a backend, at least one device, each
 * device and group once, for type1 only groups and only devices whose
 * group is listed, names that fit, and the number of fds its lines carry
 * (one for the container or iommufd, one per group, one per device on
 * iommufd).
 */
#include <errno.h>

#include "fuzz.h"
#include "iommu/iommu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct handoff_desc *d = malloc(sizeof(*d));
	const char *why = NULL;
	bool ifd;
	int r;

	if (!d)
		abort();
	r = handoff_parse((const char *)data, size, d, &why);
	FUZZ_CHECK(r == 0 || r == -EPROTO || r == -ENOMEM);
	FUZZ_CHECK(why != NULL);
	if (r < 0) {
		FUZZ_CHECK(r == -ENOMEM || why[0] != '\0');
		free(d);
		return 0;
	}
	ifd = d->backend == ASSIGN_IOMMU_IOMMUFD;
	FUZZ_CHECK(ifd || d->backend == ASSIGN_IOMMU_TYPE1);
	FUZZ_CHECK(d->ndevs >= 1 && d->ndevs <= HANDOFF_MAX_DEVICES);
	FUZZ_CHECK(d->ngroups <= HANDOFF_MAX_DEVICES);
	FUZZ_CHECK(!ifd || d->ngroups == 0);
	FUZZ_CHECK(d->nfds == 1 + d->ngroups + (ifd ? d->ndevs : 0));
	FUZZ_CHECK(d->nfds <= HANDOFF_MAX_FDS);
	for (size_t i = 0; i < d->ngroups; i++) {
		FUZZ_CHECK(d->groups[i] >= 0);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(d->groups[k] != d->groups[i]);
	}
	for (size_t i = 0; i < d->ndevs; i++) {
		bool listed = false;

		FUZZ_CHECK(d->devs[i].name[0]);
		FUZZ_CHECK(strlen(d->devs[i].name) < DEVPATH_NAME_MAX);
		FUZZ_CHECK(!strchr(d->devs[i].name, '/'));
		FUZZ_CHECK(d->devs[i].bus[0]);
		FUZZ_CHECK(d->devs[i].fd == -1);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(d->devs[k].name, d->devs[i].name));
		for (size_t k = 0; k < d->ngroups; k++)
			listed |= d->groups[k] == d->devs[i].group;
		FUZZ_CHECK(ifd || listed);
		FUZZ_CHECK(d->devs[i].group >= -1);
	}
	free(d);
	return 0;
}
