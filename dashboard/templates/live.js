// The mp dashboard's live updates: the server sends the current view's fragment over
// Server-Sent Events whenever it changes; this swaps it in. Nothing else runs in the page.
(function () {
  var main = document.getElementById("live");
  if (!main || !window.EventSource) return;
  var es = new EventSource("events?view=" + encodeURIComponent(main.dataset.view));
  es.onmessage = function (e) {
    main.innerHTML = e.data;
    document.body.dataset.updated = String(Date.now());
  };
  es.onerror = function () { document.body.dataset.offline = "1"; };
  es.onopen = function () { delete document.body.dataset.offline; };
})();
