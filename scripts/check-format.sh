#!/usr/bin/env bash
# Check that every line of C changed since a base revision is formatted as
# .clang-format says (the kernel's style, for Debian 12's clang-format 14).
# Only changed lines are checked: code older than the base keeps its shape
# until someone touches it.
#
# Usage: scripts/check-format.sh [--base REV]
#   --base REV   compare with REV (default: the commit that added
#                .clang-format, so everything changed since then is checked)
#
# What is checked: the *.c and *.h files that differ between the base and
# the working tree (committed or not; untracked files are not seen),
# except the vendored kernel headers in src/uapi/.
#
# Exit status: 0 when every changed line is formatted; 1 with the diff
# clang-format wants when some are not; 2 when the check cannot run (no
# git history, no clang-format, base missing). It never passes without
# having checked. In a shallow clone that lacks the base it says so and
# checks the lines of HEAD's own commit instead (HEAD's parent must be
# there: fetch with --depth 2 or more, or --unshallow for the full check).
#
# To format your changed lines in place: git clang-format BASE
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# The commit that added .clang-format, on main. Fixed here rather than
# looked up, so that a shallow clone cannot mistake its oldest commit (in
# which every file looks added) for it.
default_base=e7a361a2fa7b6fc33026bcc6a972485379fc28be

die() { echo "check-format: ERROR: $*" >&2; exit 2; }

base=
while [ $# -gt 0 ]; do
	case "$1" in
	--base) base=${2:?--base needs a revision}; shift ;;
	-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "check-format: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

command -v git >/dev/null || die "git not found (scripts/deps.sh installs it)"
command -v clang-format >/dev/null ||
	die "clang-format not found (scripts/deps.sh installs it)"
git clang-format -h >/dev/null 2>&1 ||
	die "git clang-format not found (Debian's clang-format package ships it)"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	die "$here is not a git checkout: the check needs history to know which lines changed"
[ -f .clang-format ] || die "no .clang-format at the top of the tree"
version=$(clang-format --version)
case "$version" in
*"version 14."*) ;;
*) echo "check-format: WARNING: $version; .clang-format is tuned for clang-format 14 (Debian 12), other versions may format differently" >&2 ;;
esac

has_commit() { git cat-file -e "$1^{commit}" 2>/dev/null; }
what=
if [ -z "$base" ]; then
	base=$default_base
	if ! has_commit "$base"; then
		if [ "$(git rev-parse --is-shallow-repository)" != true ]; then
			die "the base $base (the commit that added .clang-format) is not in this repository; pass --base REV"
		fi
		echo "check-format: WARNING: shallow clone without the base $base (the commit that added .clang-format): checking only the lines HEAD's commit changed; fetch with --unshallow for the full check" >&2
		has_commit HEAD^ ||
			die "shallow clone without HEAD's parent: cannot tell which lines changed; fetch at least 2 commits deep (git fetch --deepen=1) or --unshallow"
		base=$(git rev-parse HEAD^)
		what="in HEAD's commit"
	fi
fi
has_commit "$base" || die "no such commit: $base"
git merge-base --is-ancestor "$base" HEAD ||
	die "HEAD does not contain $base: rebase on main (or pass --base REV)"
what=${what:-"since $(git rev-parse --short "$base")"}

# git clang-format 14 exits 0 whether or not it has a diff to show, and 2
# when it cannot run; with --quiet its output is the diff and nothing else.
set +e
out=$(git clang-format --quiet --diff --extensions c,h "$base" -- . ':!src/uapi/' 2>&1)
rc=$?
set -e
[ "$rc" = 0 ] || { printf '%s\n' "$out" >&2; die "git clang-format failed (exit $rc)"; }
files=$(git diff --name-only "$base" -- '*.c' '*.h' ':!src/uapi/' | wc -l)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	echo "check-format: FAILED: lines changed $what are not formatted as .clang-format says (diff above: - as written, + as wanted); fix them with: git clang-format $base" >&2
	exit 1
fi
echo "check-format: every changed line of C $what is formatted ($files files changed)"
