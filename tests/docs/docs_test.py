#!/usr/bin/env python3
"""Keeps the documentation honest: what README.md and docs/**/*.md name must exist in the code.

Checked, with FILE:LINE for every problem:
  - commands: every `moectl SUB`, `moe-worker SUB` and `moed SUB` written in code (code blocks and
    `inline code`) is a subcommand the binary has (listed in its --help, and `BIN SUB --help`
    answers for SUB); every --flag written after one of them is in that command's --help;
  - lone flags: an inline `--flag` must be a flag of moed, moectl or moe-worker (or one of the few
    other tools' flags listed in FOREIGN_FLAGS);
  - links: every relative Markdown link points to an existing file, and its #anchor to a heading;
  - paths: every repository path in code (`server/coordinator.cc`, `worker/parallel/`,
    `server/catalogue.*`, `worker/train/flat_parameters`) exists, and a source file named alone
    in inline code (`trainer.h`) exists somewhere;
  - names: every Prometheus series `moe_*` written in code, every MOE_* / MOECTL_* environment
    variable, and both halves of every inline `Class::Member`, appear in the source tree;
  - the README keeps its "What works" / "What is not done" lists.

A command counts only in command position (first on a line or after `sudo`, `env`, VAR=value,
`|`, `&&`, `;`, `&`). Fenced blocks marked ```text are illustrations and are not read for commands.
Placeholders (JOB, FILE, <job>, ...) are not subcommands. Before the real pages, the checker
runs itself on a page with planted errors and fails unless it finds each of them.

Python 3, standard library only. Exit code 0 when every check passes, 1 otherwise.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
BINARIES = ("moectl", "moed", "moe-worker")
# A paragraph (or table) whose first line is this comment names other tools' flags (the original
# script's `--model_id`, ...): its lone flags are not checked.
OTHER_FLAGS_MARKER = "<!-- docs_test: other tools' flags -->"
# Flags of other tools that the pages mention on their own (`--no-requeue` of sbatch, ...).
FOREIGN_FLAGS = {"--no-requeue"}
# Top-level directories of the repository whose paths the pages may name.
TOP_DIRS = ("server", "client", "common", "worker", "proto", "tests", "scripts", "deploy",
            "configs", "datasets", "assets", "bench", "fuzz", "cmake", "docs", ".ci")
ROOT_FILES = ("README.md", "CMakeLists.txt", ".clang-format", ".gitignore")
# Where names (metrics, environment variables) must appear.
SOURCE_DIRS = ("server", "client", "common", "worker", "proto", "tests", "scripts", "deploy",
               "bench", "cmake", "fuzz", ".ci")
SOURCE_SUFFIXES = (".cc", ".h", ".proto", ".py", ".sh", ".cmake", ".txt", ".yml", ".yaml",
                   ".json", ".service", ".example", ".mjs", "run")
SEPARATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "\\"}
PREFIX_WORDS = {"sudo", "env", "exec", "nohup", "time", "$"}
SUDO_VALUE_OPTIONS = {"-u", "-g"}
TYPE_WORDS = r"(?:TEXT|INT|UINT|FLOAT|DOUBLE|NUMBER|BOOLEAN|FILE|DIR|PATH)"
PLANTED = """# planted errors: the checker must report each one

    moectl frobnicate JOB
    moectl submit --frobnicate JOB.yaml
    moed --frobnicate
    moe-worker frobnicate --spec JOB.yaml

A link to [nowhere](no/such/file.md), one to [a missing anchor](#no-such-heading), a path
`server/no_such_file.cc`, a lone flag `--frobnicate-everything`, a metric `moe_no_such_series`
and a variable MOE_NO_SUCH_VARIABLE.
A file `no_such_module.h` and a symbol `Coordinator::NoSuchMethod`.
"""
PLANTED_EXPECTED = (
    "planted.md:3: `moectl frobnicate`: moectl has no subcommand 'frobnicate'",
    "planted.md:4: `moectl submit` has no flag --frobnicate",
    "planted.md:5: `moed` has no flag --frobnicate",
    "planted.md:6: `moe-worker frobnicate`: moe-worker has no subcommand 'frobnicate'",
    "planted.md:8: link target no/such/file.md does not exist",
    "planted.md:8: link #no-such-heading: no heading with anchor #no-such-heading",
    "planted.md:9: path `server/no_such_file.cc` does not exist",
    "planted.md:9: flag --frobnicate-everything is not a flag",
    "planted.md:9: metric moe_no_such_series appears nowhere",
    "planted.md:10: environment variable MOE_NO_SUCH_VARIABLE appears nowhere",
    "planted.md:11: no file named `no_such_module.h`",
    "planted.md:11: `Coordinator::NoSuchMethod`: NoSuchMethod appears nowhere",
)


class Help:
    """What a binary's --help says: subcommands, and the flags of each (sub)command."""

    def __init__(self, name, path):
        self.name, self.path = name, path
        self.top = self._run([])
        self.subcommands = self._subcommands(self.top)
        self._flags = {None: self._options(self.top)}
        self._valid_sub = {}

    def _run(self, args):
        try:
            done = subprocess.run([self.path] + args + ["--help"], capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SystemExit(f"docs_test: cannot run {self.path} --help: {e}")
        return done.returncode, done.stdout + done.stderr

    @staticmethod
    def _subcommands(result):
        names, in_section = set(), False
        for line in result[1].splitlines():
            if line.startswith("Subcommands:"):
                in_section = True
                continue
            if in_section:
                m = re.match(r"^\s{2}([a-z][\w-]*)(\s|$)", line)
                if m:
                    names.add(m.group(1))
                elif line.strip() and not line.startswith(" "):
                    in_section = False
        return names

    @staticmethod
    def _options(result):
        """{flag: takes_a_value} from the option lines of a help text."""
        options = {}
        for line in result[1].splitlines():
            m = re.match(r"^\s{2}((?:-\w,)?(?:--[\w.-]+)|-\w)(.*)$", line)
            if not m:
                continue
            takes_value = re.match(r"^ " + TYPE_WORDS + r"\b", m.group(2)) is not None
            for flag in m.group(1).split(","):
                options[flag] = takes_value
        return options

    def valid_subcommand(self, sub):
        if sub not in self._valid_sub:
            ok = sub in self.subcommands
            if ok:
                code, text = self._run([sub])
                usage = re.search(r"Usage: \S+ " + re.escape(sub) + r"\b", text)
                ok = code == 0 and usage is not None
                if ok:
                    self._flags[sub] = self._options((code, text))
            self._valid_sub[sub] = ok
        return self._valid_sub[sub]

    def flags(self, sub=None):
        merged = dict(self._flags[None])
        if sub is not None and self.valid_subcommand(sub):
            merged.update(self._flags[sub])
        return merged

    def every_flag(self):
        flags = set(self._flags[None])
        for sub in self.subcommands:
            flags |= set(self.flags(sub))
        return flags


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


class Page:
    """A Markdown file split into code (blocks and inline spans) and prose."""

    def __init__(self, path, text):
        self.path = path
        self.code_lines = []    # (line, text, is_illustration): code-block lines, continuations joined
        self.spans = []         # (line, text): inline code
        self.prose = []         # (line, text): paragraph text with code spans blanked
        self.other_flags = set()  # lines of spans in paragraphs marked OTHER_FLAGS_MARKER
        self.anchors = set()
        self._parse(text.split("\n"))

    def _parse(self, lines):
        fence, fence_info, paragraph = None, "", []
        previous_blank, previous_code = True, False
        counts = {}
        pending = None  # a code line ending in a backslash: (line, text, illustration)

        def add_code(number, text, illustration):
            nonlocal pending
            if pending is not None:
                number, text = pending[0], pending[1] + " " + text.strip()
                pending = None
            if text.rstrip().endswith("\\"):
                pending = (number, text.rstrip()[:-1], illustration)
            else:
                self.code_lines.append((number, text, illustration))

        for number, line in enumerate(lines, 1):
            if fence is not None:
                if line.strip().startswith(fence):
                    fence = None
                else:
                    add_code(number, line, fence_info == "text")
                continue
            m = re.match(r"^\s{0,3}(```+|~~~+)\s*(\S*)", line)
            if m:
                self._paragraph(paragraph)
                paragraph = []
                fence, fence_info = m.group(1), m.group(2)
                continue
            if not line.strip():
                self._paragraph(paragraph)
                paragraph = []
                previous_blank, previous_code = True, False
                continue
            if (line.startswith("    ") or line.startswith("\t")) and (previous_blank or
                                                                         previous_code):
                add_code(number, line, False)
                previous_blank, previous_code = False, True
                continue
            heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if heading:
                anchor = slug(heading.group(1))
                n = counts.get(anchor, 0)
                counts[anchor] = n + 1
                self.anchors.add(anchor if n == 0 else f"{anchor}-{n}")
            paragraph.append((number, line))
            previous_blank, previous_code = False, False
        self._paragraph(paragraph)
        if pending is not None:
            self.code_lines.append(pending)

    def _paragraph(self, paragraph):
        if not paragraph:
            return
        first = paragraph[0][0]
        other_flags = paragraph[0][1].strip() == OTHER_FLAGS_MARKER
        text = "\n".join(line for _, line in paragraph)
        blanked = list(text)
        for m in re.finditer(r"(`+)(.+?)(?<!`)\1(?!`)", text, re.S):
            self.spans.append((first + text.count("\n", 0, m.start()), m.group(2).strip()))
            if other_flags:
                self.other_flags.add(self.spans[-1])
            for i in range(m.start(), m.end()):
                if blanked[i] != "\n":
                    blanked[i] = " "
        self.prose.append((first, "".join(blanked)))


def strip_token(token):
    return token.strip("`'\"()[]{},;")


def segments(text):
    """Shell-ish segments of a code line: lists of tokens between separators, comments dropped."""
    text = re.sub(r"(^|\s)#.*$", "", text)
    current = []
    for raw in text.split():
        if raw in SEPARATORS:
            if current:
                yield current
            current = []
            continue
        ends = raw.endswith(";") and len(raw) > 1
        current.append(raw.rstrip(";") if ends else raw)
        if ends:
            yield current
            current = []
    if current:
        yield current


def command_in(tokens):
    """(binary, arguments) when the segment runs one of our binaries, else None."""
    i = 0
    while i < len(tokens):
        token = strip_token(tokens[i])
        if token in PREFIX_WORDS:
            i += 1
            if token == "sudo":
                while i < len(tokens) and tokens[i].startswith("-"):
                    i += 2 if tokens[i] in SUDO_VALUE_OPTIONS else 1
            continue
        if re.match(r"^[A-Z_][A-Z0-9_]*=", token):
            i += 1
            continue
        if "=" in token and token.split("=", 1)[0] in ("ExecStart",):
            token = token.split("=", 1)[1]
        name = os.path.basename(token)
        if name in BINARIES and (token == name or "/" in token):
            return name, tokens[i + 1:]
        return None
    return None


class Checker:
    def __init__(self, root, helps):
        self.root = os.path.realpath(root)
        self.helps = helps
        self.problems = []
        self.counts = dict(commands=0, flags=0, links=0, paths=0, names=0)
        self.every_flag = set()
        for help_ in helps.values():
            self.every_flag |= help_.every_flag()
        blob = []
        for top in SOURCE_DIRS + ("",):
            base = os.path.join(self.root, top)
            if top == "":
                files = [os.path.join(base, f) for f in ("CMakeLists.txt",)]
            else:
                files = []
                for d, dirs, names in os.walk(base):
                    # Not this checker's own files: they name what must not exist.
                    dirs[:] = [x for x in dirs if os.path.join(d, x) != HERE]
                    files += [os.path.join(d, n) for n in names if n.endswith(SOURCE_SUFFIXES)]
            for f in files:
                try:
                    with open(f, encoding="utf-8", errors="replace") as handle:
                        blob.append(handle.read())
                except OSError:
                    pass
        blob = "\n".join(blob)
        self.source_words = set(re.findall(r"\b[A-Za-z_]\w*\b", blob))
        self.file_names = set()
        for top in TOP_DIRS:
            for d, dirs, names in os.walk(os.path.join(self.root, top)):
                self.file_names.update(names)
        self.source_metrics = set(re.findall(r"\bmoe_[a-z0-9_]+\b", blob))
        self.source_variables = set(re.findall(r"\b(?:MOE|MOECTL)_[A-Z0-9_]+\b", blob))
        self.pages = {}

    def report(self, page, line, message):
        self.problems.append(f"{os.path.relpath(page.path, self.root)}:{line}: {message}")

    # --- commands and flags -------------------------------------------------------------------
    def check_command(self, page, line, binary, args):
        help_ = self.helps[binary]
        self.counts["commands"] += 1
        sub, i, global_flags = None, 0, help_.flags()
        while i < len(args):
            token = strip_token(args[i])
            if token.startswith("-"):
                flag = token.split("=", 1)[0]
                i += 2 if global_flags.get(flag) and "=" not in token else 1
                continue
            if re.match(r"^[a-z][a-z0-9-]*$", token):
                sub = token
            break
        if sub is not None and not help_.valid_subcommand(sub):
            self.report(page, line, f"`{binary} {sub}`: {binary} has no subcommand '{sub}' "
                        f"(it has: {', '.join(sorted(help_.subcommands)) or 'none'})")
            return
        known = help_.flags(sub)
        for raw in args:
            token = strip_token(raw)
            if not token.startswith("-") or token in ("-", "--"):
                continue
            for part in re.split(r"[/|]", token):
                part = part.split("=", 1)[0].rstrip(".:,;)]").rstrip(".")
                if not re.match(r"^--?[A-Za-z][\w.-]*$", part):
                    continue
                self.counts["flags"] += 1
                if part not in known:
                    where = f"{binary} {sub}" if sub else binary
                    self.report(page, line, f"`{where}` has no flag {part} (see `{where} --help`)")

    def check_lone_flag(self, page, line, span):
        words = span.split()
        if not words or not words[0].startswith("--") or len(words) > 2:
            return
        for part in words[0].split("/"):
            part = part.split("=", 1)[0].rstrip(".:,;)")
            if not re.match(r"^--[A-Za-z][\w.-]*$", part):
                continue
            self.counts["flags"] += 1
            if part not in self.every_flag and part not in FOREIGN_FLAGS:
                self.report(page, line, f"flag {part} is not a flag of moed, moectl or moe-worker")

    # --- paths ----------------------------------------------------------------------------------
    def check_path(self, page, line, token, in_block):
        token = strip_token(token)
        if "=" in token and token.startswith("-"):
            token = token.split("=", 1)[1]
        if in_block and re.search(r":\d+:?$", token):
            return  # FILE:LINE: a location in sample output
        token = re.sub(r":\d+$", "", token).rstrip(".,:;")
        if any(c in token for c in "<>{}$") or "..." in token or token.endswith(".."):
            return
        tops = "|".join(re.escape(t) for t in TOP_DIRS)
        relative = re.match(r"^(\.\./|\./)+", token)
        bare = token[relative.end():] if relative else token
        if not (re.match(rf"^(?:{tops})/[\w.*/+-]*$", bare) or bare in ROOT_FILES):
            return
        base = os.path.dirname(page.path) if relative else self.root
        path = os.path.realpath(os.path.join(base, token))
        if not (path + os.sep).startswith(self.root + os.sep) and path != self.root:
            return  # outside the repository: not ours to check
        self.counts["paths"] += 1
        found = (glob.glob(path) if "*" in token else
                 os.path.exists(path) or (not token.endswith("/") and glob.glob(path + ".*")))
        if token.endswith("/") and not os.path.isdir(path):
            found = False
        if not found:
            self.report(page, line, f"path `{token}` does not exist in the repository")

    def check_file_name(self, page, line, token):
        """A source file named without its directory (`trainer.h`) must exist somewhere."""
        token = strip_token(token).rstrip(".,:;")
        if not re.match(r"^[\w-]+\.(h|cc|proto|py|sh|mjs)$", token):
            return
        self.counts["paths"] += 1
        if token not in self.file_names:
            self.report(page, line, f"no file named `{token}` in the repository")

    def check_symbol(self, page, line, span):
        """`Class::Member` must name a class and a member that the source has."""
        m = re.match(r"^([A-Z]\w*)::([A-Za-z_]\w*)(?:\(\))?$", span)
        if not m:
            return
        self.counts["names"] += 1
        missing = [w for w in m.groups() if w not in self.source_words]
        if missing:
            self.report(page, line, f"`{span}`: {', '.join(missing)} appears nowhere in the source")

    # --- links ----------------------------------------------------------------------------------
    def check_links(self, page, line, text):
        for m in re.finditer(r"\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)", text):
            self.check_link(page, line + text.count("\n", 0, m.start()), m.group(1))
        for m in re.finditer(r"^\s{0,3}\[[^\]]+\]:\s+(\S+)", text, re.M):
            self.check_link(page, line + text.count("\n", 0, m.start()), m.group(1))

    def check_link(self, page, line, target):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return  # a URL
        self.counts["links"] += 1
        file_part, _, anchor = target.partition("#")
        if file_part:
            path = os.path.realpath(os.path.join(os.path.dirname(page.path), file_part))
            if not os.path.exists(path):
                self.report(page, line, f"link target {target} does not exist")
                return
        else:
            path = page.path
        if anchor and path.endswith(".md"):
            anchors = self.page(path).anchors
            if anchor not in anchors:
                self.report(page, line, f"link {target}: no heading with anchor #{anchor} in "
                            f"{os.path.relpath(path, self.root)}")

    def page(self, path):
        path = os.path.realpath(path)
        if path not in self.pages:
            with open(path, encoding="utf-8") as handle:
                self.pages[path] = Page(path, handle.read())
        return self.pages[path]

    # --- names ----------------------------------------------------------------------------------
    def check_metric(self, page, line, name):
        self.counts["names"] += 1
        bare = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in self.source_metrics and bare not in self.source_metrics:
            self.report(page, line, f"metric {name} appears nowhere in the source")

    def check_variable(self, page, line, name):
        self.counts["names"] += 1
        if name.endswith("_"):
            if not any(v.startswith(name) for v in self.source_variables):
                self.report(page, line, f"no environment variable {name}* in the source")
        elif name not in self.source_variables:
            self.report(page, line, f"environment variable {name} appears nowhere in the source")

    # --- a page ---------------------------------------------------------------------------------
    def check_page(self, page):
        for line, text, illustration in page.code_lines:
            for tokens in segments(text):
                found = None if illustration else command_in(tokens)
                if found:
                    self.check_command(page, line, *found)
                for token in tokens:
                    self.check_path(page, line, token, in_block=True)
            for name in re.findall(r"\bmoe_[a-z0-9_]+\b", text):
                self.check_metric(page, line, name)
        for line, span in page.spans:
            for tokens in segments(span.replace("\n", " ")):
                found = command_in(tokens)
                if found:
                    self.check_command(page, line, *found)
            if (line, span) not in page.other_flags:
                self.check_lone_flag(page, line, span)
            for token in span.split():
                self.check_path(page, line, token, in_block=False)
                self.check_file_name(page, line, token)
            self.check_symbol(page, line, span)
            for name in re.findall(r"\bmoe_[a-z0-9_]+\b", span):
                self.check_metric(page, line, name)
        for line, text in page.prose:
            self.check_links(page, line, text)
        everything = [(l, t) for l, t, _ in page.code_lines] + page.spans + page.prose
        for line, text in everything:
            for m in re.finditer(r"\b(?:MOE|MOECTL)_[A-Z0-9_]*[A-Z0-9_]\b", text):
                self.check_variable(page, line + text.count("\n", 0, m.start()), m.group(0))


def pages_to_check(root):
    paths = [os.path.join(root, "README.md")]
    paths += sorted(glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True))
    paths += [os.path.join(root, d, "README.md") for d in ("server", "client", "deploy")]
    return [p for p in paths if os.path.exists(p)]


def check_planted(root, helps):
    """The checker must catch every planted error, or its passing means nothing."""
    checker = Checker(root, helps)
    page = Page(os.path.join(root, "docs", "planted.md"), PLANTED)
    checker.pages[os.path.realpath(page.path)] = page
    checker.check_page(page)
    report = "\n".join(checker.problems)
    return [f"the checker missed the planted error '{e}' (it reported:\n{report})"
            for e in PLANTED_EXPECTED if e not in report]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moectl", required=True)
    parser.add_argument("--moed", required=True)
    parser.add_argument("--worker", required=True, help="moe-worker")
    parser.add_argument("--root", required=True, help="the repository's root")
    args = parser.parse_args()
    helps = {"moectl": Help("moectl", args.moectl), "moed": Help("moed", args.moed),
             "moe-worker": Help("moe-worker", args.worker)}
    for name, help_ in helps.items():
        if not help_.subcommands and name != "moed":
            sys.exit(f"docs_test: {name} --help lists no subcommands: cannot check anything")

    missed = check_planted(args.root, helps)
    checker = Checker(args.root, helps)
    paths = pages_to_check(args.root)
    for path in paths:
        checker.check_page(checker.page(path))
    readme = checker.page(os.path.join(args.root, "README.md"))
    for anchor in ("what-works", "what-is-not-done"):
        if anchor not in readme.anchors:
            checker.problems.append(f"README.md: no '{anchor.replace('-', ' ')}' heading: the "
                                    "README keeps a 'What works' / 'What is not done' list")
    problems = missed + checker.problems
    for problem in problems:
        print(problem)
    c = checker.counts
    print(f"docs_test: {len(paths)} pages; {c['commands']} commands, {c['flags']} flags, "
          f"{c['links']} links, {c['paths']} paths, {c['names']} names checked; "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
