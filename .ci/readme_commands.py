"""The README's two promised commands, read out of README.md, for .ci/run.

    python .ci/readme_commands.py main          the command of "Install and run the main job"
    python .ci/readme_commands.py test          the command of "Run the tests"
    python .ci/readme_commands.py check LOG MIN the main job's log ends with a test
                                                accuracy >= MIN (exit 1 otherwise)

.ci/run executes exactly what this prints, so the README and CI cannot drift
apart (tests/test_ci.py checks that .ci/run does so).  Each command is the
first ```bash block of its section, which must hold one command line.
"""
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = {"main": "Install and run the main job", "test": "Run the tests"}


def command(which, text=None):
    """The one-line command of README section SECTIONS[which]."""
    if text is None:
        text = README.read_text(encoding="utf-8")
    heading = SECTIONS[which]
    parts = re.split(r"^## +" + re.escape(heading) + r" *$", text, maxsplit=1, flags=re.M)
    if len(parts) != 2:
        raise SystemExit(f"README.md has no section '## {heading}'")
    section = re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0]
    block = re.search(r"^```bash\n(.*?)^```", section, flags=re.S | re.M)
    if block is None:
        raise SystemExit(f"README.md's section '{heading}' has no ```bash block")
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    if len(lines) != 1:
        raise SystemExit(f"README.md's '{heading}' block must hold one command, not {lines}")
    return lines[0].strip()


def test_accuracy(log_text):
    """The last 'test accuracy: X' the main job printed, or None."""
    found = re.findall(r"^test accuracy: ([0-9.]+)", log_text, flags=re.M)
    return float(found[-1]) if found else None


def main(argv):
    if len(argv) == 2 and argv[1] in SECTIONS:
        print(command(argv[1]))
        return 0
    if len(argv) == 4 and argv[1] == "check":
        acc = test_accuracy(Path(argv[2]).read_text(encoding="utf-8", errors="replace"))
        need = float(argv[3])
        if acc is None:
            print(f"the main job printed no 'test accuracy: ...' line", file=sys.stderr)
            return 1
        print(f"main job: test accuracy {acc:.4f} (need >= {need})")
        return 0 if acc >= need else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
