/* emtheory docs: a formula wider than its column is scaled down to fit it (MathJax 3 cannot break lines), and
   scaled again when the window changes size. The scale goes on the formula's mjx-math element, so that MathJax's
   own font matching on the container is kept. */
(function(){
  var MIN = 0.5, MIN_OUTPUT = 0.25;   // a computed result (a cell's output) may shrink further than prose math
  function avail(el){
    var p = el.parentElement.closest('div.math, p, li, td, th, dd, dt, div, section') || el.parentElement;
    var cs = getComputedStyle(p);
    return p.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  }
  function fit(){
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
  var t;
  function later(){ clearTimeout(t); t = setTimeout(fit, 100); }
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
    p.then(fit);
    window.addEventListener('resize', later);
  });
  window.emtheoryFitMath = fit;
})();
