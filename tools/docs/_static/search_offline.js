/* emtheory docs: search excerpts on a site opened from disk. Sphinx's search fetches each result's page for its
   excerpt; browsers refuse fetch() on file:// URLs, so a failed fetch of one of the site's pages is answered from
   search_texts.js (written by tools/docs/conf.py). */
(function(){
  var orig = window.fetch;
  if (!orig) return;
  window.fetch = function(url){
    var args = arguments;
    return orig.apply(this, args).catch(function(err){
      var texts = window.EMTHEORY_SEARCH_TEXTS, root = document.documentElement.dataset.content_root || '';
      if (!texts) throw err;
      var base = new URL(root, location.href).href, u = new URL(String(url), location.href).href.split(/[?#]/)[0];
      var name = u.indexOf(base) === 0 ? decodeURIComponent(u.slice(base.length)).replace(/\.html$/, '') : null;
      if (name === null || !(name in texts)) throw err;
      var div = document.createElement('div'); div.textContent = texts[name];
      return new Response('<div role="main">' + div.innerHTML + '</div>', {headers: {'Content-Type': 'text/html'}});
    });
  };
})();
