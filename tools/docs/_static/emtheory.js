/* emtheory docs: a formula wider than its column is scaled down to fit it (MathJax 3 cannot break lines), and
   scaled again when the window changes size. The scale goes on the formula's mjx-math element, so that MathJax's
   own font matching on the container is kept. */
(function(){
  var MIN = 0.5, MIN_OUTPUT = 0.25;   // a computed result (a cell's output) may shrink further than prose math
  var SPLIT = 0.8;   // a display formula that would shrink below this is set on several lines instead (narrow screens)
  var REL = /^(=|<|>|\\(?:ge|geq|le|leq|approx|equiv|ne|neq|propto)(?![A-Za-z]))/;
  /* A one-line display formula as an aligned block: a line per relation (=, \ge, ...) and per \qquad-separated
     part, and with `fine` also before each + and - between terms; it breaks only outside braces, brackets and
     \left...\right. null when there is nothing to break. */
  function split_tex(tex, fine){
    if (/\\begin\{|\\\\|\\tag|\\label|&/.test(tex)) return null;
    var lines = [], cur = '', kind = 'lhs', depth = 0, i = 0, n = tex.length, breaks = 0;
    function body(){ return cur.replace(/^(=|<|>|\\[A-Za-z]+)?(\s|\\[;,: ]|\\quad)*/, '').trim(); }
    function push(next){ lines.push([kind, cur]); cur = ''; kind = next; breaks++; }
    while (i < n) {
      var rest = tex.slice(i), c = tex[i], m;
      if (depth == 0 && (m = /^,?\s*\\qquad\s*/.exec(rest))) {          // a new formula on its own line
        if (rest[0] == ',') cur += ',';
        push('lhs'); i += m[0].length; continue;
      }
      if (depth == 0 && cur.trim() && (m = REL.exec(rest))) { push('rel'); cur = m[0]; i += m[0].length; continue; }
      if (fine && kind != 'lhs' && depth == 0 && (c == '+' || c == '-') && body() && !/[=+\-{(,]\s*$|\\[A-Za-z]+\s*$/.test(cur)) {
        push('cont'); cur = c; i++; continue;
      }
      if (c == '\\') {
        m = /^\\([A-Za-z]+|.)/.exec(rest) || [c];
        if (m[0] == '\\left') depth++; else if (m[0] == '\\right') depth--;
        cur += m[0]; i += m[0].length; continue;
      }
      if (c == '{' || c == '(' || c == '[') depth++;
      else if (c == '}' || c == ')' || c == ']') depth = Math.max(0, depth - 1);
      cur += c; i++;
    }
    push();
    if (breaks < 2) return null;
    var out = [], spacing = /^(\s|\\[;,: ]|\\quad)+|(\s|\\[;,: ]|\\quad)+$/g;
    lines.forEach(function(l, k){
      var t = l[1].replace(spacing, '');
      if (!t) return;
      var next = lines[k + 1];
      if (l[0] == 'lhs' && next && next[0] == 'rel') { lines[k + 1] = ['first', t + ' &' + next[1].replace(spacing, '')]; return; }
      out.push(l[0] == 'first' ? t : l[0] == 'cont' ? '&\\quad ' + t : '&' + t);
    });
    return out.length > 1 ? '\\begin{aligned}' + out.join(' \\\\ ') + '\\end{aligned}' : null;
  }
  function items(){
    var d = window.MathJax && MathJax.startup && MathJax.startup.document;
    return d ? Array.from(d.math) : [];
  }
  /* set the formulas too wide for their column on several lines (level 1: a line per relation; level 2: also a line
     per term), and back on one line when the column is wide enough again; resolves when MathJax has typeset them */
  function width(box){ var m = box.querySelector('mjx-math'); if (!m) return 0; m.style.fontSize = ''; return m.getBoundingClientRect().width; }
  function resplit(){
    var todo = [];
    items().forEach(function(it){
      var el = it.typesetRoot, box = el && el.parentElement;
      if (!el || !it.display || !box || !box.matches('div.math') || el.closest('.cell_output, .output')) return;
      if (!box.hasAttribute('data-tex')) {
        var t1 = split_tex(it.math, false), t2 = split_tex(it.math, true);
        if (!t1 && !t2) return;
        box.setAttribute('data-tex', it.math); box.setAttribute('data-width', width(box));
        box.setAttribute('data-tex1', t1 || t2); box.setAttribute('data-tex2', t2 || t1);
      }
      var a = avail(el), is = +(box.getAttribute('data-split') || 0), want = 0;
      if (+box.getAttribute('data-width') * SPLIT > a) {
        want = 1;
        if (box.hasAttribute('data-width1') && +box.getAttribute('data-width1') * SPLIT > a) want = 2;
      }
      if (want != is) todo.push([box, want]);
    });
    if (!todo.length) return Promise.resolve();
    var boxes = todo.map(function(x){ return x[0]; });
    MathJax.typesetClear(boxes);
    todo.forEach(function(x){
      var box = x[0];
      box.textContent = '\\[' + box.getAttribute(x[1] ? 'data-tex' + x[1] : 'data-tex') + '\\]';
      box.setAttribute('data-split', x[1]);
    });
    return MathJax.typesetPromise(boxes).then(function(){
      var again = false;
      todo.forEach(function(x){
        if (x[1] == 1 && !x[0].hasAttribute('data-width1')) { x[0].setAttribute('data-width1', width(x[0])); again = true; }
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
      if (w > a + 0.5 && a > 0) {
        var lo = el.closest('.cell_output, .output') ? MIN_OUTPUT : MIN;
        var s = Math.max(lo, Math.floor(1000 * a / w) / 1000 * 0.99);
        m.style.fontSize = (100 * s).toFixed(2) + '%';
        el.setAttribute('data-fit', s.toFixed(3));
      } else el.removeAttribute('data-fit');
    });
  }
  function layout(){ return resplit().then(fit); }
  var t;
  function later(){ clearTimeout(t); t = setTimeout(layout, 100); }
  function label_tables(){
    document.querySelectorAll('article table.table').forEach(function(t){
      var heads = [].map.call(t.querySelectorAll('thead th'), function(th){ return th.textContent.trim(); });
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
  document.addEventListener('DOMContentLoaded', label_tables);
  document.addEventListener('DOMContentLoaded', contents_button);
  window.addEventListener('load', function(){
    var p = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
    window.emtheoryMathReady = p.then(layout);   // tools/docs/check.py waits for it
    window.addEventListener('resize', later);
  });
  window.emtheoryFitMath = fit; window.emtheoryResplit = resplit;
})();
