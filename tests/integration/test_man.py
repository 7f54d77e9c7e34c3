#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The man pages say everything the code accepts. The lists come from the code, not from this
test, so a new option, verb, config section or key fails here until it is documented:

- every program meson installs into a bin folder has a page (meson introspect --installed);
- every long option in a program's getopt tables is on its page (the page is made from the
  program's --help, so this is what --help must describe);
- every evidentctl verb of the verbs[] table in tools/evidentctl.c has its subsection in
  evidentctl(1), with the options of the file that defines it;
- every config section evidentd's parser dispatches on (handler() in daemon/config.c) and
  every key its key function compares is in daemon/evidentd.conf.example under that section,
  and so in evidentd.conf(5);
- the pages format without a warning (groff -ww), when groff is installed.

BUILD_DIR: the meson build folder.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
BUILD = os.environ.get('BUILD_DIR') or sys.exit('test_man: BUILD_DIR is not set')
MAN = os.path.join(BUILD, 'man')
EXAMPLE = os.path.join(SRC, 'daemon', 'evidentd.conf.example')

failures = []


def fail(msg):
    failures.append(msg)


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def roff(text):
    """How text appears in a page mkman.py wrote."""
    return text.replace('\\', '\\e').replace('-', '\\-')


def strip_comments(c):
    c = re.sub(r'/\*.*?\*/', ' ', c, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', c)


def long_options(c_text):
    """Long option names of the getopt tables in a C file."""
    return set(re.findall(r'\{\s*"([a-z0-9][a-z0-9-]*)"\s*,\s*(?:no|required|optional)_argument',
                          strip_comments(c_text)))


def page(name):
    path = os.path.join(MAN, name)
    if not os.path.exists(path):
        fail('%s: not generated (man/meson.build: add it to man_sources, with man/%s.extra)'
             % (path, name))
        return None
    return read(path)


# ---------------------------------------------------------------- every program has a page

def installed_programs():
    res = subprocess.run(['meson', 'introspect', '--installed', BUILD], stdout=subprocess.PIPE,
                         check=True)
    inst = json.loads(res.stdout)
    progs = {os.path.basename(p) for p in inst.values() if re.search(r'/s?bin/[^/]+$', p)}
    pages = {os.path.basename(p) for p in inst.values() if re.search(r'/man/man\d/', p)}
    return progs, pages


progs, installed_pages = installed_programs()
for prog in sorted(progs):
    if not ({prog + '.1', prog + '.8'} & installed_pages):
        fail('%s is installed without a man page: add [\'%s\', SECTION, \'help\', TARGET] to '
             'man_sources in man/meson.build and write man/%s.SECTION.extra (SEE ALSO at '
             'least); its --help must be laid out like the others (SECTION TITLES in column '
             '0, bodies indented)' % (prog, prog, prog))

# ---------------------------------------------------------------- options of each program

PROGRAM_SOURCES = {
    'evidentd.8': ['daemon/main.c'],
    'evident-witness.8': ['tools/witness/main.c'],
    'evident-oracle.1': ['tools/evident-oracle.c'],
    'evident-auditor.8': sorted(os.path.relpath(p, SRC) for p in
                                glob.glob(os.path.join(SRC, 'tools', 'auditor', '*.c'))),
}
for name, sources in PROGRAM_SOURCES.items():
    prog = name.rsplit('.', 1)[0]
    if prog not in progs:
        continue  # not built in this configuration
    text = page(name)
    if text is None:
        continue
    for src in sources:
        for opt in sorted(long_options(read(os.path.join(SRC, src)))):
            if roff('--' + opt) not in text:
                fail('%s: option --%s (%s) is not in %s --help' % (name, opt, src, prog))

# ---------------------------------------------------------------- evidentctl verbs and options

ctl_page = page('evidentctl.1')
if ctl_page is not None:
    main_c = strip_comments(read(os.path.join(SRC, 'tools', 'evidentctl.c')))
    table = re.search(r'verbs\[\]\s*=\s*\{(.*?)\};', main_c, re.S)
    idents = re.findall(r'&ctl_verb_(\w+)', table.group(1)) if table else []
    if not idents:
        fail('tools/evidentctl.c: no verbs[] table found (this test reads the verbs from it)')
    defs = {}
    for path in glob.glob(os.path.join(SRC, '**', '*.c'), recursive=True):
        if '/build' in os.path.relpath(path, SRC) or path.startswith(os.path.join(SRC, 'build')):
            continue
        text = read(path)
        for m in re.finditer(r'const struct ctl_verb ctl_verb_(\w+)\s*=\s*\{\s*\.name\s*=\s*'
                             r'"([^"]+)"', text):
            defs[m.group(1)] = (m.group(2), path)
    # the page's subsection of each verb
    subsections = {}
    parts = re.split(r'^\.SS "(.*)"$', ctl_page, flags=re.M)
    for i in range(1, len(parts) - 1, 2):
        subsections[parts[i].replace('\\-', '-')] = parts[i + 1].split('\n.SH ')[0]
    by_file = {}
    for ident in idents:
        if ident not in defs:
            fail('ctl_verb_%s: no definition with .name first found in the sources' % ident)
            continue
        verb, path = defs[ident]
        by_file.setdefault(path, []).append(verb)
        if verb not in subsections:
            fail('evidentctl.1: verb %s has no subsection (is it in evidentctl --help VERBS?)'
                 % verb)
    for path, verbs in sorted(by_file.items()):
        text = '\n'.join(subsections.get(v, '') for v in verbs)
        for opt in sorted(long_options(read(path))):
            if roff('--' + opt) not in text:
                fail('evidentctl.1: option --%s of %s (%s) is not in its --help' %
                     (opt, '/'.join(verbs), os.path.relpath(path, SRC)))
    for opt in sorted(long_options(read(os.path.join(SRC, 'tools', 'ctl.h')))):
        if roff('--' + opt) not in ctl_page:
            fail('evidentctl.1: global option --%s (tools/ctl.h) is not in evidentctl --help'
                 % opt)

# ---------------------------------------------------------------- config sections and keys


def config_keys():
    """{section: set(keys)} as daemon/config.c's handler() dispatches them. A section given as
    "trigger " (strncmp) is one with a name: [trigger NAME]."""
    texts = {p: strip_comments(read(p)) for p in glob.glob(os.path.join(SRC, 'daemon', '*.c'))}
    config_c = texts[os.path.join(SRC, 'daemon', 'config.c')]
    handler = re.search(r'static int handler\(.*?\n\}', config_c, re.S)
    if not handler:
        fail('daemon/config.c: no handler() found (this test reads the sections from it)')
        return {}
    header = read(os.path.join(SRC, 'daemon', 'config.h'))
    types = re.search(r'#define CONFIG_RETENTION_TYPES "([^"]+)"', header)
    retention_types = set(types.group(1).replace(',', ' ').split()) if types else set()
    sections = {}
    for m in re.finditer(r'strn?cmp\(section, "([^"]+)"(?:, \d+)?\)\)\s*return (\w+)\(',
                         handler.group(0)):
        sec, func = m.group(1), m.group(2)
        body = None
        for text in texts.values():
            b = re.search(r'\n(?:static )?int ' + func + r'\([^)]*\)\n\{.*?\n\}', text, re.S)
            if b:
                body = b.group(0)
                break
        if body is None:
            fail('daemon: no definition of %s (the key function of [%s])' % (func, sec))
            continue
        keys = set(re.findall(r'strcmp\(name, "([a-z0-9_]+)"\)', body))
        keys |= set(re.findall(r'\{"([a-z0-9_]+)", &c->', body))
        if 'retention_type(' in body:
            # an entry type; a section that takes only some says so with t != ... && ...
            only = re.search(r'if \(t != VAULT_ENTRY_\w+(?: && t != VAULT_ENTRY_\w+)*\)', body)
            keys |= ({t.lower() for t in re.findall(r'VAULT_ENTRY_(\w+)', only.group(0))}
                     if only else retention_types)
        sections[sec] = keys
    return sections


def regions(lines, is_header):
    """{header text: [lines up to the next header]} (a header may repeat: lists joined)."""
    out, cur = {}, None
    for ln in lines:
        h = is_header(ln)
        if h is not None:
            cur = h
            out.setdefault(cur, [])
        elif cur is not None:
            out[cur].append(ln)
    return out


def matching(regs, sec):
    """The regions of section sec ("trigger " matches every [trigger NAME])."""
    if sec.endswith(' '):
        return [r for h, rs in regs.items() if h.startswith(sec) for r in [rs]]
    return [regs[sec]] if sec in regs else []


sections = config_keys()
ex_regs = regions(read(EXAMPLE).split('\n'),
                  lambda ln: (re.match(r'^;?\[([^\]]+)\]\s*$', ln) or [None, None])[1])
conf_page = page('evidentd.conf.5')
page_regs = regions((conf_page or '').split('\n'),
                    lambda ln: (re.match(r'^\.SS "\[(.*)\]"$', ln) or [None, None])[1])
page_regs = {h.replace('\\-', '-'): v for h, v in page_regs.items()}
for sec, keys in sorted(sections.items()):
    shown = sec.strip() + (' NAME' if sec.endswith(' ') else '')
    ex = matching(ex_regs, sec)
    if not ex:
        fail('daemon/evidentd.conf.example: no section [%s] (add ";[%s]" with a comment '
             'above it saying what it is for)' % (shown, shown))
        continue
    ex_text = '\n'.join(ln for r in ex for ln in r)
    pg_text = '\n'.join(ln for r in matching(page_regs, sec) for ln in r)
    for key in sorted(keys):
        if not re.search(r'^;?' + key + r'\s*=', ex_text, re.M):
            fail('daemon/evidentd.conf.example: key %s of [%s] is not there: add ";%s = '
                 'DEFAULT" under [%s], with a comment above it' % (key, shown, key, shown))
        elif conf_page is not None and '.B "%s =' % roff(key) not in pg_text:
            fail('evidentd.conf.5: key %s of [%s] missing (rebuild: ninja -C BUILD)'
                 % (key, shown))
if not sections:
    fail('daemon/config.c: handler() dispatches no section this test recognizes')

# ---------------------------------------------------------------- the pages format cleanly

groff = shutil.which('groff')
if groff:
    for path in sorted(glob.glob(os.path.join(MAN, '*.[158]'))):
        res = subprocess.run([groff, '-man', '-ww', '-z', '-Tutf8', path],
                             stderr=subprocess.PIPE, check=False)
        if res.returncode or res.stderr:
            fail('%s: groff: %s' % (path, res.stderr.decode(errors='replace').strip()))
else:
    print('test_man: groff not installed: formatting not checked')

if failures:
    for f in failures:
        print('FAIL:', f)
    sys.exit(1)
print('test_man: %d programs, %d evidentctl verbs, %d config sections (%d keys): all on their '
      'pages' % (len(progs), len(idents) if ctl_page else 0, len(sections),
                 sum(len(k) for k in sections.values())))
