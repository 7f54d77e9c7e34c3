#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a man page (roff) from the one source of its text, so that page and program
cannot drift apart:

  mkman.py help OUT PAGE SECTION VERSION EXTRA -- PROGRAM [ARGS]  from `PROGRAM --help`
  mkman.py ctl OUT PAGE SECTION VERSION EXTRA -- EVIDENTCTL       from `evidentctl --help` and
                                                                  `evidentctl VERB --help`
  mkman.py conf OUT PAGE SECTION VERSION EXTRA EXAMPLE            from evidentd.conf.example

The programs' --help texts are already laid out like man pages: a SECTION TITLE in column 0,
its body indented; in a body, a line followed by more deeply indented lines is a term and its
definition (an option, a file). EXTRA (man/PAGE.SECTION.extra) is more of the same layout for
what a --help text leaves out (FILES, SEE ALSO, ...): a section that the help text also has is
appended to, the others are placed in the usual order of man page sections.

A paragraph is filled (reflowed by man) when all its lines have one indentation and no column
alignment (two spaces inside a line); anything else (tables, code, SYNOPSIS, EXAMPLES) is kept
line for line.
"""
import os
import re
import subprocess
import sys

ORDER = ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'VERBS', 'GLOBAL OPTIONS', 'OPTIONS', '*',
         'COMMANDS', 'SIGNALS', 'SIGNALS AND SYSTEMD', 'FILES', 'ENVIRONMENT', 'EXIT STATUS',
         'EXAMPLES', 'SEE ALSO']
NOFILL = {'SYNOPSIS', 'EXAMPLES'}
BOLD_TERMS = {'OPTIONS', 'GLOBAL OPTIONS', 'FILES', 'ENVIRONMENT', 'VERBS'}
TITLE = re.compile(r'^[A-Z][A-Z0-9 ,/-]*$')


def esc(text):
    """One line of text as roff: backslashes, minus signs, a leading dot or quote."""
    text = text.replace('\\', '\\e').replace('-', '\\-')
    text = ''.join(c if ord(c) < 128 else '\\[u%04X]' % ord(c) for c in text)
    if text.startswith(('.', "'")):
        text = '\\&' + text
    return text


def indent_of(line):
    return len(line) - len(line.lstrip(' '))


def dedent(lines):
    width = min((indent_of(ln) for ln in lines if ln.strip()), default=0)
    return [ln[width:] if ln.strip() else '' for ln in lines]


def parse_help(text):
    """[(TITLE, [body lines, dedented])] of a man-shaped help text."""
    sections = []
    for line in text.expandtabs().rstrip('\n').split('\n'):
        line = line.rstrip()
        if TITLE.match(line):
            sections.append([line, []])
        elif sections:
            sections[-1][1].append(line)
        elif line.strip():
            raise SystemExit('mkman: text before the first SECTION TITLE: %r' % line)
    return [(title, dedent(body)) for title, body in sections]


def fillable(lines):
    first = indent_of(lines[0])
    return all(indent_of(ln) == first and '  ' not in ln.strip() for ln in lines)


def text_run(lines, nofill):
    """Lines of one paragraph (no blank line among them)."""
    if not nofill and fillable(lines):
        return [esc(ln.strip()) for ln in lines]
    lines = dedent(lines)
    return ['.nf'] + [esc(ln) if ln else '' for ln in lines] + ['.fi']


def term(text, bold):
    return '.B ' + esc(text) if bold else esc(text)


def definition_list(lines):
    """Every line 'TERM  DEFINITION' (a table of two columns)."""
    pairs = [re.match(r'^(\S+(?: \S+)*?)\s{2,}(\S.*)$', ln) for ln in lines if ln]
    if not lines or not all(pairs):
        return None
    out = []
    width = min(max(len(m.group(1)) for m in pairs) + 2, 16)
    for m in pairs:
        out += ['.TP %d' % width, term(m.group(1), True), esc(m.group(2))]
    return out


def render_body(title, lines):
    """roff for one section's (dedented) body lines."""
    nofill = title in NOFILL
    bold = title in BOLD_TERMS
    if title in ('VERBS', 'EXIT STATUS'):
        table = definition_list([ln for ln in lines if ln])
        if table:
            return table
    out = []
    blocks, cur = [], []
    for ln in lines + ['']:
        if ln:
            cur.append(ln)
        elif cur:
            blocks.append(cur)
            cur = []
    for bi, block in enumerate(blocks):
        i = 0
        plain = []
        after_term = False
        in_terms = True  # a term starts a block or follows another term's definition

        def flush():
            nonlocal plain, after_term
            if plain:
                if out and (after_term or out[-1] != '.PP'):
                    out.append('.PP')
                out.extend(text_run(plain, nofill))
                plain = []
                after_term = False

        if bi and out and out[-1] != '.PP':
            out.append('.PP')
        while i < len(block):
            ln = block[i]
            j = i + 1
            while j < len(block) and indent_of(block[j]) > indent_of(ln):
                j += 1
            if (in_terms and not nofill and j > i + 1 and indent_of(ln) == 0 and
                    '  ' not in ln):
                flush()
                out += ['.TP', term(ln, bold or ln.startswith(('-', '/', '$')))]
                out += text_run(block[i + 1:j], False)
                after_term = True
            else:
                plain.extend(block[i:j])
                in_terms = False
            i = j
        flush()
    while out and out[-1] == '.PP':
        out.pop()
    return out


def order_key(item):
    title = item[1][0]
    rank = ORDER.index(title) if title in ORDER else ORDER.index('*')
    return (rank, item[0])


def merge(sections, extra_path):
    """The program's sections with those of EXTRA, in man page order."""
    merged = [[t, b if isinstance(b, str) else list(b)] for t, b in sections]
    if extra_path and os.path.exists(extra_path):
        with open(extra_path, encoding='utf-8') as f:
            for title, body in parse_help(f.read()):
                same = [s for s in merged if s[0] == title]
                if same and not isinstance(same[0][1], str):
                    same[0][1] += [''] + body
                else:
                    merged.append([title, body])
    return [s for _, s in sorted(enumerate(merged), key=order_key)]


def header(page, section, version):
    kinds = {'1': 'User Commands', '5': 'File Formats', '8': 'System Administration'}
    return ['.\\" Generated by man/mkman.py from the program\'s --help text and',
            '.\\" man/%s.%s.extra: edit those, not this file.' % (page, section),
            '.TH "%s" "%s" "" "evidentd %s" "%s"' % (page.upper(), section, version,
                                                    kinds.get(section, '')),
            '.nh', '.ad l']


def render_sections(sections):
    out = []
    for title, body in sections:
        if isinstance(body, str):  # already roff
            out += ['.SH "%s"' % title, body]
            continue
        out.append('.SH "%s"' % title)
        out += render_body(title, body)
    return out


def run(argv):
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        raise SystemExit('mkman: %s exited with %d: %s' % (' '.join(argv), res.returncode,
                                                           res.stderr.decode(errors='replace')))
    return res.stdout.decode('utf-8')


# ---------------------------------------------------------------- evidentctl

def ctl_page(program):
    main = parse_help(run([program, '--help']))
    titles = dict(main)
    verbs = [ln.split()[0] for ln in titles['VERBS'] if ln.strip()]
    global_terms = {ln for ln in titles['GLOBAL OPTIONS'] if ln and not ln.startswith(' ')}
    main_exit = [ln for ln in titles['EXIT STATUS'] if ln]
    roff = []
    for verb in verbs:
        vs = dict(parse_help(run([program, verb, '--help'])))
        summary = ' '.join(vs['NAME']).strip()
        summary = summary.split(' - ', 1)[1] if ' - ' in summary else summary
        roff += ['.SS "%s"' % esc(verb), esc(summary)]
        for ln in vs['SYNOPSIS']:
            if ln.strip():
                roff += ['.PP', '.B ' + esc(ln.strip())]
        if 'DESCRIPTION' in vs:
            roff += ['.PP'] + render_body('DESCRIPTION', vs['DESCRIPTION'])
        opts, skip = [], False
        for ln in vs.get('OPTIONS', []):
            if ln and not ln.startswith(' '):
                skip = ln in global_terms
            if not skip:
                opts.append(ln)
        while opts and not opts[-1]:
            opts.pop()
        if opts:
            roff += ['.PP', '.I Options:', '.RS'] + render_body('OPTIONS', opts) + ['.RE']
        exit_status = [ln for ln in vs.get('EXIT STATUS', []) if ln]
        if exit_status and exit_status != main_exit:
            roff += ['.PP', '.I Exit status:', '.RS']
            roff += render_body('EXIT STATUS', vs['EXIT STATUS']) + ['.RE']
        if vs.get('EXAMPLES'):
            roff += ['.PP', '.I Examples:', '.RS']
            roff += render_body('EXAMPLES', vs['EXAMPLES']) + ['.RE']
    sections = list(main) + [('COMMANDS', '\n'.join(roff))]
    return sections


# ---------------------------------------------------------------- evidentd.conf

SECTION_LINE = re.compile(r'^;?\[([^\]]+)\]\s*$')
KEY_LINE = re.compile(r'^;?([a-z_][a-z0-9_]*)\s*=\s*(.*)$')


def conf_page(example):
    """DESCRIPTION's first paragraph (the file's opening comment) and one SECTIONS AND KEYS
    section: a subsection per [section], each key with its default as a term and the comment
    above it as its definition."""
    with open(example, encoding='utf-8') as f:
        lines = [ln.rstrip('\n') for ln in f]
    # blocks of consecutive non-blank lines
    blocks, cur = [], []
    for ln in lines + ['']:
        if ln.strip():
            cur.append(ln)
        elif cur:
            blocks.append(cur)
            cur = []
    intro = []
    roff = []

    def comment_text(c):
        return c[1:].expandtabs()[1:] if c.startswith(('; ', ';\t')) else c[1:].expandtabs()

    def paragraph(comments):
        return text_run([comment_text(c) for c in comments], False) if comments else []

    seen_section = False
    for block in blocks:
        comments = []
        i = 0
        while i < len(block):
            ln = block[i]
            sec = SECTION_LINE.match(ln)
            key = KEY_LINE.match(ln)
            if sec:
                seen_section = True
                roff += ['.SS "[%s]"' % esc(sec.group(1))]
                roff += ['.PP'] + paragraph(comments) if comments else []
                comments = []
            elif key and not ln.startswith('; '):
                roff += ['.TP']
                keys = [ln]
                while i + 1 < len(block) and KEY_LINE.match(block[i + 1]) \
                        and not block[i + 1].startswith('; '):
                    i += 1
                    keys.append(block[i])
                for k, kl in enumerate(keys):
                    m = KEY_LINE.match(kl)
                    if k:
                        roff.append('.TQ')
                    roff.append('.B "%s = %s"' % (esc(m.group(1)), esc(m.group(2)).replace('"', '\\(dq')))
                roff += paragraph(comments) if comments else ['(no further description)']
                comments = []
            elif ln.startswith(';') or ln.startswith('#'):
                comments.append(ln)
            else:
                raise SystemExit('mkman: %s: a line that is neither a comment, a section nor '
                                 'a key: %r' % (example, ln))
            i += 1
        if comments:
            if not seen_section:
                intro += [comment_text(c) for c in comments] + ['']
            else:
                roff += ['.PP'] + paragraph(comments)
    return intro, '\n'.join(roff)


def main(argv):
    if len(argv) < 8:
        raise SystemExit(__doc__)
    mode, out, page, section, version, extra = argv[1:7]
    rest = argv[7:]
    if rest and rest[0] == '--':
        rest = rest[1:]
    if mode == 'help':
        sections = parse_help(run(rest + ['--help']))
    elif mode == 'ctl':
        sections = ctl_page(rest[0])
    elif mode == 'conf':
        intro, keys = conf_page(rest[0])
        sections = [('DESCRIPTION', dedent(intro)), ('SECTIONS AND KEYS', keys)]
    else:
        raise SystemExit(__doc__)
    lines = header(page, section, version) + render_sections(merge(sections, extra))
    text = '\n'.join(lines) + '\n'
    tmp = out + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, out)


if __name__ == '__main__':
    main(sys.argv)
