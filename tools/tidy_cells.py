"""Tidy the export cells of notebooks without changing what they mean: one statement per line (no `;`), no line over
120 characters (a trailing comment moved above its line, a one-line compound body put on its own line, brackets broken
at their commas, long strings split into adjacent literals, long one-line docstrings wrapped). Every rewrite is kept only
if the cell's syntax tree is unchanged (docstrings compared by their words); what it cannot fix it prints, for a person.

Usage: python tools/tidy_cells.py nbs/*.ipynb   (writes the notebooks back; then nbdev_export, nbdev_clean)"""
import ast, io, json, re, sys, textwrap, tokenize
from pathlib import Path

MAX = 120

def _norm(tree):
    "AST dump with docstrings compared by their words."
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body[0].value.value = ' '.join(body[0].value.value.split())
    return ast.dump(tree)

def same(a:str, b:str)->bool:
    try: return _norm(ast.parse(a)) == _norm(ast.parse(b))
    except SyntaxError: return False

def _bodies(tree):
    for node in ast.walk(tree):
        for f in ('body', 'orelse', 'finalbody', 'handlers'):
            v = getattr(node, f, None)
            if isinstance(v, list) and v and isinstance(v[0], (ast.stmt, ast.excepthandler)): yield node, f, v

def _col(line:str, byte_col:int)->int: return len(line.encode()[:byte_col].decode())

def _comment_at(line:str):
    "Column of a comment on this line (its `#`), or None."
    try: toks = list(tokenize.generate_tokens(io.StringIO(line + '\n').readline))
    except (tokenize.TokenError, IndentationError, SyntaxError): return None
    for t in toks:
        if t.type == tokenize.COMMENT: return t.start[1]
    return None

def fix_semicolon(src:str):
    "Split the last line holding statements joined by `;` (or a one-line compound body with several); None when none is left."
    tree, lines = ast.parse(src), src.split('\n')
    best = None
    for parent, field, stmts in _bodies(tree):
        groups = {}
        for s in stmts:
            if isinstance(s, ast.excepthandler): continue
            groups.setdefault(s.lineno, []).append(s)
        for ln, g in groups.items():
            if len(g) < 2 or any(s.end_lineno != ln for s in g): continue
            if best is None or ln > best[0]: best = (ln, g, parent)
    if best is None: return None
    ln, g, _ = best
    line = lines[ln - 1]
    start = _col(line, g[0].col_offset)
    indent = len(line) - len(line.lstrip())
    parts = [line[_col(line, s.col_offset):_col(line, s.end_col_offset)] for s in g]
    tail = line[_col(line, g[-1].end_col_offset):]
    comment = tail[tail.index('#'):] if '#' in tail else ''
    inline = bool(line[:start].strip())                        # `if x: a; b` -> a header and an indented block
    head, pad = ([line[:start].rstrip()], ' ' * (indent + 4)) if inline else ([], ' ' * indent)
    body = [pad + p for p in parts]
    if comment and len(body[-1]) + 2 + len(comment) <= MAX: body[-1] += '  ' + comment
    elif comment: body.insert(0, pad + comment)                # too long to stay at the end: above the statements
    new = head + body
    return '\n'.join(lines[:ln - 1] + new + lines[ln:])

def _move_comment(lines, i):
    "A trailing comment of line i moved onto its own line above, at the code's indentation."
    line = lines[i]
    c = _comment_at(line)
    if c is None or not line[:c].strip(): return None
    code, comment = line[:c].rstrip(), line[c:]
    if len(code) > MAX: return None
    indent = len(line) - len(line.lstrip())
    return lines[:i] + [' ' * indent + comment, code] + lines[i + 1:]

def _split_compound(src, lines, i):
    "`if x: long_statement` on line i -> header line and the statement on its own, indented."
    tree = ast.parse(src)
    for parent, field, stmts in _bodies(tree):
        s = stmts[0]
        if isinstance(s, ast.excepthandler) or s.lineno != i + 1 or s.end_lineno != i + 1: continue
        line = lines[i]
        start = _col(line, s.col_offset)
        if not line[:start].strip() or not line[:start].rstrip().endswith(':'): continue
        indent = len(line) - len(line.lstrip())
        return lines[:i] + [line[:start].rstrip(), ' ' * (indent + 4) + line[start:]] + lines[i + 1:]
    return None

def _tokens(line):
    try: return list(tokenize.generate_tokens(io.StringIO(line + '\n').readline))
    except (tokenize.TokenError, IndentationError, SyntaxError): return None

def _fill(cur:str, items:list, pad:str, suffix:str='')->list:
    "Lines holding `items` after `cur`, as many on a line as fit in MAX, continuation lines starting with `pad`."
    res = []
    for it in items:
        fresh = cur.strip() == '' or cur.endswith(('(', '[', '{'))
        cand = cur + ('' if fresh else ' ') + it
        if len(cand) > MAX and not fresh:
            res.append(cur.rstrip())
            cur = pad + it
        else: cur = cand
    return res + [cur + suffix]

def _break_commas(lines, i):
    "Break line i at the top-level commas of its outermost bracket holding commas (implicit continuation), greedy to MAX."
    line = lines[i]
    off = len(line) - len(line.lstrip())
    toks = _tokens(line.lstrip())
    if toks is None: return None
    stack, pairs = [], []
    for t in toks:
        if t.type == tokenize.OP and t.string in '([{': stack.append(t)
        elif t.type == tokenize.OP and t.string in ')]}':
            if not stack: return None
            o = stack.pop()
            pairs.append((o.start[1] + off, t.start[1] + off, len(stack)))
    if stack: return None
    for o, c, depth in sorted(pairs, key=lambda p: (p[2], p[0])):
        if o >= MAX - 10: continue
        commas = [t.start[1] + off for t in toks if t.type == tokenize.OP and t.string == ','
                  and o < t.start[1] + off < c and _depth_at(toks, t.start[1], 0) == depth + 1]
        if not commas: continue
        bounds = [o + 1] + [k + 1 for k in commas] + [c]
        items = [line[x:y].strip() for x, y in zip(bounds, bounds[1:])]
        items = [it for it in items if it]
        prefix, suffix = line[:o + 1], line[c:]
        if o + 1 <= 60: res = _fill(prefix, items, ' ' * (o + 1), suffix)
        else: res = [prefix] + _fill(' ' * (off + 4), items, ' ' * (off + 4), suffix)
        if len(res) < 2: continue
        return lines[:i] + res + lines[i + 1:]
    return None

def _depth_at(toks, col, off):
    d = 0
    for t in toks:
        if t.start[1] >= col: break
        if t.type == tokenize.OP and t.string in '([{': d += 1
        elif t.type == tokenize.OP and t.string in ')]}': d -= 1
    return d

_PREFIX = re.compile(r'^([rRbBfFuU]{0,2})(\'|")')

def _wrap_docstring(src, lines, i):
    "A one-line docstring on line i over MAX -> a triple-quoted docstring wrapped at MAX."
    tree = ast.parse(src)
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if not (isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)): continue
        d = body[0]
        if d.lineno != i + 1 or d.end_lineno != i + 1: continue
        line = lines[i]
        raw = line[_col(line, d.col_offset):_col(line, d.end_col_offset)]
        if raw.startswith(('"""', "'''")) or not raw.startswith(('"', "'")): return None
        if '\\' in raw: return None
        text = d.value.value
        if '"""' in text: return None
        indent = ' ' * (len(line) - len(line.lstrip()))
        wrapped = textwrap.wrap(text, width=MAX - len(indent), initial_indent='"""', subsequent_indent='',
                                break_long_words=False, break_on_hyphens=False)
        wrapped[-1] += '"""'
        if len(indent + wrapped[-1]) > MAX:
            wrapped[-1] = wrapped[-1][:-3]
            wrapped.append('"""')
        new = [indent + w for w in wrapped]
        return lines[:i] + new + lines[i + 1:]
    return None


def _src_tokens(src):
    try: return list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError): return None

def _depths(toks):
    "Bracket depth before each token."
    d, out = 0, []
    for t in toks:
        if t.type == tokenize.OP and t.string in ')]}': d -= 1
        out.append(d)
        if t.type == tokenize.OP and t.string in '([{': d += 1
    return out

def _token_depths(src):
    "(tokens, the bracket depth before each) of a cell's source, or None where it does not tokenize."
    toks = _src_tokens(src)
    return None if toks is None else (toks, _depths(toks))

def _split_string_src(src, lines, i):
    "Split a string literal crossing MAX on line i (inside brackets) at a space, into two adjacent literals on two lines."
    if (td := _token_depths(src)) is None: return None
    toks, deps = td
    line = lines[i]
    for t, d in zip(toks, deps):
        if t.type != tokenize.STRING or t.start[0] != i + 1 or t.end[0] != i + 1 or d == 0 or t.end[1] <= MAX: continue
        s, a = t.string, t.start[1]
        m = _PREFIX.match(s)
        if not m or s[len(m.group(1)):].startswith(m.group(2) * 3): continue
        pre, q = m.group(1), m.group(2)
        body = s[len(pre) + 1:-1]
        is_f = 'f' in pre.lower()
        level, best = 0, None
        for k, ch in enumerate(body):
            if is_f and ch == '{': level += 1
            elif is_f and ch == '}': level -= 1
            if ch == ' ' and level == 0 and a + len(pre) + 1 + k + 2 <= MAX and (k == 0 or body[k - 1] != '\\'): best = k + 1
        if best is None or best < 10: continue
        p1, p2 = body[:best], body[best:]
        strip_f = lambda part: pre.replace('f', '').replace('F', '') if is_f and '{' not in part and '}' not in part else pre
        first = line[:a] + strip_f(p1) + q + p1 + q
        second = ' ' * a + strip_f(p2) + q + p2 + q + line[t.end[1]:]
        return lines[:i] + [first, second] + lines[i + 1:]
    return None

def _break_cont(src, lines, i):
    "A continuation line (inside a bracket opened above) broken at the enclosing bracket's commas, at the line's indentation."
    if (td := _token_depths(src)) is None: return None
    toks, deps = td
    on = [(t, d) for t, d in zip(toks, deps) if t.start[0] == i + 1 and t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)]
    if not on or on[0][1] == 0 or any(t.end[0] != i + 1 for t, _ in on): return None
    d0 = min(d for _, d in on)
    line = lines[i]
    cuts = [t.end[1] for t, d in on if t.type == tokenize.OP and t.string == ',' and d == d0]
    if not cuts: return None
    indent = len(line) - len(line.lstrip())
    bounds = [indent] + cuts + [len(line)]
    items = [line[x:y].strip() for x, y in zip(bounds, bounds[1:])]
    items = [it for it in items if it]
    res = _fill(' ' * indent, items, ' ' * indent)
    return lines[:i] + res + lines[i + 1:] if len(res) > 1 else None

def _break_open(src, lines, i):
    "A line whose bracket opens here and closes on a later line: broken at that bracket's commas on this line."
    if (td := _token_depths(src)) is None: return None
    toks, deps = td
    line = lines[i]
    on = [(k, t, d) for k, (t, d) in enumerate(zip(toks, deps)) if t.start[0] == i + 1]
    opens = [(k, t, d) for k, t, d in on if t.type == tokenize.OP and t.string in '([{']
    for k, t, d in opens:
        # its closing bracket
        depth, close = 0, None
        for t2 in toks[k:]:
            if t2.type == tokenize.OP and t2.string in '([{': depth += 1
            elif t2.type == tokenize.OP and t2.string in ')]}':
                depth -= 1
                if depth == 0: close = t2; break
        if close is None or close.start[0] == i + 1: continue
        cuts = [t2.end[1] for _, t2, d2 in on if t2.type == tokenize.OP and t2.string == ',' and d2 == d + 1 and t2.start[1] > t.start[1]]
        if not cuts: continue
        o = t.start[1]
        pad = ' ' * (o + 1)
        bounds = [o + 1] + cuts + [len(line)]
        items = [line[x:y].strip() for x, y in zip(bounds, bounds[1:])]
        items = [it for it in items if it]
        res = _fill(line[:o + 1], items, pad)
        if len(res) > 1: return lines[:i] + res + lines[i + 1:]
    return None

def fix_long(src:str):
    "Fix the first line over MAX that can be fixed; None when none can."
    lines = src.split('\n')
    for i, line in enumerate(lines):
        if len(line) <= MAX or line.lstrip().startswith('#'): continue
        for f in (lambda: _wrap_docstring(src, lines, i), lambda: _move_comment(lines, i), lambda: _split_compound(src, lines, i),
                  lambda: _break_commas(lines, i), lambda: _break_cont(src, lines, i),
                  lambda: _split_string_src(src, lines, i), lambda: _break_open(src, lines, i)):
            try: new = f()
            except SyntaxError: new = None
            if new is None: continue
            out = '\n'.join(new)
            if out != src and same(src, out): return out
    return None

def tidy(src:str)->str:
    try: ast.parse(src)
    except SyntaxError: return src
    for _ in range(500):
        new = fix_semicolon(src)
        if new is None or not same(src, new): break
        src = new
    for _ in range(2000):
        new = fix_long(src)
        if new is None: break
        src = new
    return src

def cell_src(c): return ''.join(c['source'])

def set_src(c, s):
    ls = s.split('\n'); c['source'] = [l + '\n' for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])

if __name__ == '__main__':
    left = 0
    for p in sys.argv[1:]:
        nb = json.loads(Path(p).read_text())
        changed = False
        for c in nb['cells']:
            if c['cell_type'] != 'code': continue
            s = cell_src(c)
            if not re.search(r'^#\|\s*export', s, re.M): continue
            new = tidy(s)
            if new != s:
                assert same(s, new), p
                set_src(c, new); changed = True
            for l in new.split('\n'):
                if len(l) > MAX: left += 1; print(f"{Path(p).name}: {l[:140]}")
        if changed: Path(p).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    print('left over 120:', left)
