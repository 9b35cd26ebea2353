/* emtheory docs: MathJax 4 breaks long formulas itself (conf.py: displayOverflow 'linebreak', inline breaks); this
   file fits wide tables and computed formulas, labels table cells for narrow screens and makes wide figures zoomable. */
(function(){
  /* a computed formula (a cell's output, e.g. a sympy matrix) still wider than its column after MathJax broke it into
     lines is scaled down to fit (the formulas of the prose are only broken: tools/docs/check.py) */
  function outputs(){
    document.querySelectorAll('.cell_output mjx-container > mjx-math, .output mjx-container > mjx-math').forEach(function(m){
      m.style.fontSize = '';
      var w = m.getBoundingClientRect().width, a = m.parentElement.parentElement.clientWidth;
      if (w > a && a > 0) m.style.fontSize = (99 * a / w).toFixed(2) + '%';
    });
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
  document.addEventListener('DOMContentLoaded', figures);
  document.addEventListener('DOMContentLoaded', label_tables);
  document.addEventListener('DOMContentLoaded', contents_button);
  window.addEventListener('load', function(){
    var p = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
    function fit(){ tables(); outputs(); }
    window.emtheoryMathReady = p.then(fit);   // tools/docs/check.py waits for it
    window.addEventListener('resize', fit);
  });
})();
