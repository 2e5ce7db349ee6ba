"""Run the README's runnable command lines as a user would after `make demo`, and say how each went.

Runs every line of the README's "A five-minute tour" and "Large archives" blocks in bash, in a
scratch folder that sees the checkout's `runs/` (so the files the lines write land there), with
`.venv/bin` first on PATH (as `. .venv/bin/activate` puts it); a `serve` line
is started, asked for its page, and stopped. Lines of "Your own collection" name your files
(capitalised) and are not run. Writes docs/readme-check.md; exits 1 if a line failed.

    make demo && .venv/bin/python docs/check_readme.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("## A five-minute tour", "## Large archives")


def blocks(text: str) -> list[str]:
    lines = []
    for head in SECTIONS:
        part = text.split(head, 1)[1].split("\n## ", 1)[0]
        for block in re.findall(r"```sh\n(.*?)```", part, re.S):
            lines += [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    return lines


def run_serve(line: str, env: dict, cwd: Path) -> tuple[int, str]:
    proc = subprocess.Popen(["bash", "-c", line.split("#")[0]], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen("http://127.0.0.1:8765/", timeout=1) as r:
                    return (0, "page served") if b"search-form" in r.read() else (1, "no search page")
            except OSError:
                time.sleep(0.1)
        return 1, "did not answer"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    rows, failed = [], 0
    work = Path(tempfile.mkdtemp(prefix="wordspot-readme-"))
    (work / "runs").symlink_to(ROOT / "runs")
    for line in blocks((ROOT / "README.md").read_text(encoding="utf-8")):
        t0 = time.time()
        if " serve " in f" {line} " and "--remote" not in line:
            code, note = run_serve(line, env, work)
        else:
            r = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True)
            code, note = r.returncode, (r.stderr.strip().splitlines() or [""])[-1][:100]
        failed += code != 0
        rows.append(f"| `{line.split('  #')[0].strip()}` | {code} | {time.time() - t0:.1f} | {note} |")
        print(rows[-1], flush=True)
    out = ["# The README's commands, run", "", f"`python docs/check_readme.py` after `make demo`; "
           f"{len(rows) - failed} of {len(rows)} lines ran cleanly.", "",
           "| line | exit | seconds | last line of stderr |", "|---|---|---|---|", *rows]
    (ROOT / "docs" / "readme-check.md").write_text("\n".join(out) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
