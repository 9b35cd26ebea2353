/* emtheory docs: a formula wider than its column is scaled down to fit it (MathJax 3 cannot break lines), and
   scaled again when the window changes size. The scale goes on the formula's mjx-math element, so that MathJax's
   own font matching on the container is kept. */
(function(){
  var MIN = 0.5, MIN_OUTPUT = 0.25;   // a computed result (a cell's output) may shrink further than prose math
  var SPLIT = 0.82;  // a display formula that would shrink below this is set on several lines instead (narrow screens)
  var REL = /^(=|<|>|\\(?:ge|geq|le|leq|approx|equiv|ne|neq|propto)(?![A-Za-z]))/;
  /* an equivalence or implication starts a new statement: its line begins with it, aligned as a new formula */
  var IFF = /^\\(?:iff|implies|impliedby|Longleftrightarrow|Leftrightarrow|Longrightarrow|Rightarrow)(?![A-Za-z])/;
  /* no line before a sign that follows an operator, an opening bracket or a relation: it is a unary sign */
  var NOBREAK = /([=+\-{(\[,&]|\\(?:cdot|times|pm|mp|ge|geq|le|leq|ne|neq|approx|equiv|propto|quad|qquad|left|right|[bB]igg?[lr]?|in|to|mid|colon|frac|tfrac|dfrac|sum|prod|int|log|exp|sqrt))\s*$/;
  var BIG = /^\\(?:big|Big|bigg|Bigg)[lrm]?\s*(\(|\[|\\\{|\\langle|\)|\]|\\\}|\\rangle|\.|\||\\\|)/;
  /* A display formula set on several lines, as an aligned block; level 1: a line per relation (=, \ge, ...), per
     part separated by \qquad or `,\quad`, and from each \iff or \implies on; level 2: also a line before each + and
     - between terms; level 3: also inside \big(...\big) brackets (never inside braces, plain brackets or
     \left...\right); level 4: as level 3, with the left-hand side on a line of its own (for a wide one). A formula written as an aligned block is read row
     by row (its & dropped) and broken further the same way. null when there is nothing to break. */
  function rows_of(tex){
    var t = tex.trim(), m;
    if ((m = /^\\begin\{split\}([\s\S]*)\\end\{split\}$/.exec(t))) t = m[1].trim();
    if ((m = /^\\begin\{aligned\}([\s\S]*)\\end\{aligned\}$/.exec(t))) t = m[1];
    else if (/\\\\|&/.test(t)) return null;
    if (/\\begin\{|\\tag|\\label/.test(t)) return null;
    var rows = [], cur = '', depth = 0, amps = 0, i = 0;
    while (i < t.length) {
      var rest = t.slice(i), c = t[i], mm;
      if (depth == 0 && (mm = /^\\\\(\s*\[[^\]]*\])?/.exec(rest))) { rows.push(cur); cur = ''; i += mm[0].length; continue; }
      if (c == '\\') { mm = /^\\([A-Za-z]+|.)/.exec(rest); cur += mm[0]; i += mm[0].length; continue; }
      if (c == '{') depth++; else if (c == '}') depth = Math.max(0, depth - 1);
      if (c == '&' && depth == 0) { if (cur.indexOf('\u0001') >= 0) return null; cur += '\u0001'; i++; continue; }
      cur += c; i++;
    }
    rows.push(cur);
    return rows.filter(function(r){ return r.trim(); });
  }
  function split_tex(tex, level){
    var rows = rows_of(tex);
    if (!rows) return null;
    var lines = [], breaks = 0, fine = level >= 2, bigs = level >= 3;
    rows.forEach(function(row){
      var k = row.indexOf('\u0001'), lead = k >= 0 && !row.slice(0, k).trim();
      row = row.replace('\u0001', '');
      var kind = 'lhs', cur = '', depth = 0, bd = 0, bd0 = 0, i = 0, n = row.length;
      if (lead) { var r0 = row.trim(); kind = (r0[0] == '+' || r0[0] == '-') ? 'cont' : 'rel'; if (lines.length) breaks++; }
      else if (fine && !/(^|[^\\])[=<>]|\\(?:ge|geq|le|leq|approx|equiv|propto|ne|neq|iff|implies)(?![A-Za-z])/.test(row)) {
        kind = 'rel'; if (lines.length) breaks++;   // a sum with no relation (a computed expression): its terms break too
      }
      else if (lines.length) breaks++;
      function body(){ return cur.replace(/^(=|<|>|\\[A-Za-z]+)?(\s|\\[;,: ]|\\quad|\{\})*/, '').trim(); }
      function push(next){ lines.push([kind, cur, bd0]); cur = ''; kind = next; bd0 = bd; breaks++; }   // bd0: the brackets open where the line starts
      while (i < n) {
        var rest = row.slice(i), c = row[i], m;
        if (depth == 0 && bd == 0 && (m = /^(,\s*\\quad|,?\s*\\qquad)\s*/.exec(rest))) {   // a new formula on its own line
          if (rest[0] == ',') cur += ',';
          push('lhs'); i += m[0].length; continue;
        }
        if (depth == 0 && bd == 0 && cur.trim() && (m = IFF.exec(rest))) { push('lhs'); cur = m[0]; i += m[0].length; continue; }
        if (depth == 0 && bd == 0 && cur.trim() && (m = REL.exec(rest))) { push('rel'); cur = m[0]; i += m[0].length; continue; }
        if (fine && kind != 'lhs' && depth == 0 && (c == '+' || c == '-') && body() && !NOBREAK.test(cur)) {
          push('cont'); cur = c; i++; continue;
        }
        if (c == '\\') {
          if (bigs && depth == 0 && (m = BIG.exec(rest))) {
            if (/[(\[{]|langle/.test(m[1])) bd++; else if (/[)\]}]|rangle/.test(m[1])) bd = Math.max(0, bd - 1);
            cur += m[0]; i += m[0].length; continue;
          }
          m = /^\\([A-Za-z]+|.)/.exec(rest) || [c];
          if (m[0] == '\\left') depth++; else if (m[0] == '\\right') depth--;
          cur += m[0]; i += m[0].length; continue;
        }
        if (c == '{' || c == '(' || c == '[') depth++;
        else if (c == '}' || c == ')' || c == ']') depth = Math.max(0, depth - 1);
        cur += c; i++;
      }
      lines.push([kind, cur, bd0]);
    });
    if (breaks < 1) return null;
    var out = [], spacing = /^(\s|\\[;,: ]|\\quad)+|(\s|\\[;,: ]|\\quad)+$/g, stack = level >= 4;
    lines.forEach(function(l, k){
      var t = l[1].replace(spacing, '');
      if (!t) return;
      var next = lines[k + 1], ind = l[2] ? '\\qquad ' : '\\quad ';
      if (stack) { out.push(l[0] == 'lhs' ? '&' + t : l[0] == 'rel' ? '&\\quad ' + t : '&\\quad' + ind + t); return; }
      if (l[0] == 'lhs' && next && next[0] == 'rel') { lines[k + 1] = ['first', t + ' &' + next[1].replace(spacing, ''), 0]; return; }
      out.push(l[0] == 'first' ? t : l[0] == 'cont' ? '&' + ind + t : '&' + t);
    });
    return out.length > 1 ? '\\begin{aligned}' + out.join(' \\\\ ') + '\\end{aligned}' : null;
  }
  /* An inline formula as pieces that can wrap with the text, where TeX itself would break a paragraph: before a
     relation, \iff and binary + and -, and after a comma followed by a space; at the top level only (outside braces
     and \left...\right; inside plain brackets, as TeX may, only at a sign with spaces around it). A piece that starts
     with a relation or a sign gets `{}` before it, so that it keeps its spacing. null when there is nothing to break. */
  function inline_pieces(tex){
    if (/\\begin\{|\\\\|&|\\tag|\\label/.test(tex)) return null;
    var out = [], cur = '', depth = 0, br = 0, i = 0, n = tex.length, m;
    function push(){ var t = cur.replace(/^\s+/, '').replace(/([^\\\s])\s+$/, '$1'); if (t) out.push(t); cur = ''; }
    while (i < n) {
      var rest = tex.slice(i), c = tex[i];
      if (depth == 0 && cur.trim()) {
        if (br == 0 && ((m = IFF.exec(rest)) || (m = REL.exec(rest)))) { push(); cur = '{}' + m[0]; i += m[0].length; continue; }
        if ((c == '+' || c == '-') && !NOBREAK.test(cur) && !/\\[,;:! ]\s*$|[_^]\s*$/.test(cur)
            && (br == 0 || (/\s$/.test(cur) && /^.\s/.test(rest)))) { push(); cur = '{}' + c; i++; continue; }   // inside brackets: a spaced sign only
        if ((m = /^,((\\[ ,;:]|\\q?quad|~)\s*)+/.exec(rest))) { cur += m[0]; push(); i += m[0].length; continue; }
      }
      if (c == '\\') {
        m = /^\\([A-Za-z]+|.)/.exec(rest) || [c];
        if (m[0] == '\\left') depth++; else if (m[0] == '\\right') depth = Math.max(0, depth - 1);
        cur += m[0]; i += m[0].length; continue;
      }
      if (c == '{') depth++; else if (c == '}') depth = Math.max(0, depth - 1);
      else if (c == '(' || c == '[') br++; else if (c == ')' || c == ']') br = Math.max(0, br - 1);
      cur += c; i++;
    }
    push();
    return out.length > 1 ? out : null;
  }
  /* the inline formulas of the prose wider than their column, set as pieces that wrap (once: they also flow on one
     line when the column is wide) */
  function split_inline(){
    var todo = [];
    items().forEach(function(it){
      var el = it.typesetRoot, box = el && el.parentElement;
      if (!el || it.display || !box || !box.matches('span.math') || box.hasAttribute('data-pieces')) return;
      if (el.closest('.cell_output, .output') || box.querySelectorAll('mjx-container').length != 1) return;
      if (width(box) <= avail(el) + 0.5) return;
      var p = inline_pieces(it.math);
      if (p) todo.push([box, p, it.math]);
    });
    if (!todo.length) return Promise.resolve();
    var boxes = todo.map(function(x){ return x[0]; });
    MathJax.typesetClear(boxes);
    todo.forEach(function(x){
      x[0].setAttribute('data-tex0', x[2]); x[0].setAttribute('data-pieces', x[1].length);
      x[0].textContent = x[1].map(function(t){ return '\\(' + t + '\\)'; }).join('\u200b');   // a place to wrap
    });
    return MathJax.typesetPromise(boxes).catch(function(){});
  }
  function items(){
    var d = window.MathJax && MathJax.startup && MathJax.startup.document;
    return d ? Array.from(d.math) : [];
  }
  /* set the formulas too wide for their column on several lines: the first of split_tex's layouts (they get narrower
     level by level; each one's natural width is measured when it is first typeset) that fits without shrinking below
     SPLIT, else the narrowest; back on one line when the column is wide enough again. Resolves when MathJax has
     typeset them. The layouts are kept on the formula's box: data-tex0 (the formula as written), data-tex1, ... */
  var LEVELS = 4;
  function width(box){ var m = box.querySelector('mjx-math'); if (!m) return 0; m.style.fontSize = ''; return m.getBoundingClientRect().width; }
  function resplit(){
    var todo = [];
    items().forEach(function(it){
      var el = it.typesetRoot, box = el && el.parentElement;
      if (!el || !it.display || !box || !box.matches('div.math')) return;   // prose and computed (sympy) formulas alike
      if (!box.hasAttribute('data-tex0')) {
        var alts = [it.math];
        for (var l = 1; l <= LEVELS; l++) { var t = split_tex(it.math, l); if (t && alts.indexOf(t) < 0) alts.push(t); }
        if (alts.length < 2) return;
        alts.forEach(function(t, k){ box.setAttribute('data-tex' + k, t); });
        box.setAttribute('data-levels', alts.length); box.setAttribute('data-width0', width(box));
      }
      var a = avail(el), is = +(box.getAttribute('data-split') || 0), n = +box.getAttribute('data-levels'), want = -1, best = 0;
      for (var k = 0; k < n; k++) {
        if (!box.hasAttribute('data-width' + k)) { want = k; break; }        // not measured yet: try it
        var w = +box.getAttribute('data-width' + k);
        if (w * SPLIT <= a) { want = k; break; }
        if (w < +box.getAttribute('data-width' + best)) best = k;
      }
      if (want < 0) want = best;
      if (want != is) todo.push([box, want]);
    });
    if (!todo.length) return Promise.resolve();
    var boxes = todo.map(function(x){ return x[0]; });
    MathJax.typesetClear(boxes);
    todo.forEach(function(x){
      x[0].textContent = '\\[' + x[0].getAttribute('data-tex' + x[1]) + '\\]';
      x[0].setAttribute('data-split', x[1]);
    });
    return MathJax.typesetPromise(boxes).then(function(){
      var again = false;
      todo.forEach(function(x){
        if (!x[0].hasAttribute('data-width' + x[1])) { x[0].setAttribute('data-width' + x[1], width(x[0])); again = true; }
      });
      return again ? resplit() : null;
    }, function(){});
  }
  function avail(el){
    var sel = 'div.math, p, li, td, th, dd, dt, div, section', p = el.parentElement.closest(sel) || el.parentElement;
    while (p.parentElement && getComputedStyle(p).display == 'inline') p = p.parentElement.closest(sel) || p.parentElement;
    var cs = getComputedStyle(p);
    return p.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  }
  function tables(){
    document.querySelectorAll('article table.table').forEach(function(t){
      t.classList.remove('table-tight', 'table-tighter');
      var box = t.parentElement;
      function wide(){ return t.getBoundingClientRect().width > box.clientWidth + 1 || t.scrollWidth > box.clientWidth + 1; }
      if (wide()) t.classList.add('table-tight');
      if (wide()) t.classList.add('table-tighter');
    });
  }
  function fit(){
    tables();
    document.querySelectorAll('mjx-container > mjx-math').forEach(function(m){
      var el = m.parentElement;
      m.style.fontSize = '';
      var w = m.getBoundingClientRect().width, a = avail(el);
      var out = el.closest('.cell_output, .output'), box = out && el.closest('div.math');
      if (w > a + 0.5 && a > 0) {
        var s = Math.max(out ? MIN_OUTPUT : MIN, Math.floor(1000 * a / w) / 1000 * 0.99);
        if (box && s < SPLIT) zoomable(box);
        if (box && box.classList.contains('em-zoomed')) { el.removeAttribute('data-fit'); return; }   // full size, panned
        m.style.fontSize = (100 * s).toFixed(2) + '%';
        el.setAttribute('data-fit', s.toFixed(3));
      } else { el.removeAttribute('data-fit'); if (box) box.classList.remove('em-zoomable', 'em-zoomed'); }
    });
  }
  /* a computed formula (a sympy result) that had to shrink below SPLIT to fit shows at full size when tapped, in a box
     that scrolls sideways; a second tap fits it again (as a figure does) */
  function zoomable(box){
    box.classList.add('em-zoomable');
    if (box.hasAttribute('data-zoom')) return;
    box.setAttribute('data-zoom', '');
    box.addEventListener('click', function(){
      if (!box.classList.contains('em-zoomable')) return;
      box.classList.toggle('em-zoomed'); fit();
    });
  }
  function layout(){ return resplit().then(split_inline).then(fit); }
  var t;
  function later(){ clearTimeout(t); t = setTimeout(layout, 100); }
  function label_tables(){
    document.querySelectorAll('article table.table').forEach(function(t){
      var heads = [].map.call(t.querySelectorAll('thead th'), function(th){ return th.textContent.trim(); });
      if (heads.length >= 6) t.classList.add('table-many');   // a narrow screen sets its cards' fields two by two
      t.querySelectorAll('tbody tr').forEach(function(tr){
        [].forEach.call(tr.children, function(td, i){ if (heads[i]) td.setAttribute('data-label', heads[i]); });
      });
    });
  }
  /* The theme opens the page's contents (its "secondary sidebar") from the first list button only, the one in the top
     bar, which is hidden on wide screens; the same button in the bar above the page forwards its click to it. */
  function contents_button(){
    var all = document.querySelectorAll('.secondary-toggle');
    [].slice.call(all, 1).forEach(function(b){
      b.setAttribute('title', 'Contents of this page'); b.setAttribute('aria-label', 'Contents of this page');
      b.addEventListener('click', function(e){ e.preventDefault(); e.stopPropagation(); all[0].click(); });
    });
  }
  /* Narrow screens: a figure drawn wider than the column (a multi-panel figure is squeezed to a third of its size on a
     phone) enlarges when tapped, to its own width (at most 1000 px), in a box that scrolls sideways; a second tap fits
     it to the column again. The stylesheet shows the hint; wide screens are unchanged. */
  var NARROW = 640;
  function figures(){
    document.querySelectorAll('article.bd-article img').forEach(function(im){
      if (im.closest('a, .em-figure')) return;
      var box = document.createElement('div'), pan = document.createElement('div');
      box.className = 'em-figure'; pan.className = 'em-figure-pan';   // the hint stays under the figure as it pans
      im.parentNode.insertBefore(box, im); box.appendChild(pan); pan.appendChild(im);
      function mark(){
        var w = Math.min(im.naturalWidth, 1000);
        box.style.setProperty('--em-zoom-width', w + 'px');
        box.classList.toggle('em-zoomable', w > 1.3 * box.clientWidth);
      }
      if (im.complete) mark(); else im.addEventListener('load', mark);
      window.addEventListener('resize', function(){ if (!box.classList.contains('em-zoomed')) mark(); });
      im.addEventListener('click', function(){
        if (window.innerWidth > NARROW || !box.classList.contains('em-zoomable')) return;
        box.classList.toggle('em-zoomed');
        if (!box.classList.contains('em-zoomed')) mark();
      });
    });
  }
  /* punctuation right after an inline formula (or an opening bracket right before one) stays on its line: Chromium
     breaks a line around the theme's inline-flex math box wherever it likes, so that a line could start with "." or
     ","; the formula and its punctuation go into one box that does not wrap (the formula's own pieces still do) */
  function glue_punctuation(){
    document.querySelectorAll('article span.math').forEach(function(s){
      var n = s.nextSibling, p = s.previousSibling, m, before = null, after = null;
      if (s.closest('.em-nobr')) return;
      if (n && n.nodeType == 3 && (m = /^[.,;:!?)\]]+/.exec(n.nodeValue))) { after = m[0]; n.nodeValue = n.nodeValue.slice(after.length); }
      if (p && p.nodeType == 3 && (m = /[(\[]+$/.exec(p.nodeValue))) { before = m[0]; p.nodeValue = p.nodeValue.slice(0, -before.length); }
      if (!after && !before) return;
      var box = document.createElement('span');
      box.className = 'em-nobr';
      s.parentNode.insertBefore(box, s);
      if (before) box.appendChild(document.createTextNode(before));
      box.appendChild(s);
      if (after) box.appendChild(document.createTextNode(after));
    });
  }
  document.addEventListener('DOMContentLoaded', glue_punctuation);
  document.addEventListener('DOMContentLoaded', figures);
  document.addEventListener('DOMContentLoaded', label_tables);
  document.addEventListener('DOMContentLoaded', contents_button);
  window.addEventListener('load', function(){
    var p = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
    window.emtheoryMathReady = p.then(layout);   // tools/docs/check.py waits for it
    window.addEventListener('resize', later);
  });
  window.emtheoryFitMath = fit; window.emtheoryResplit = resplit;
})();
