// The worklist page while a refresh runs: poll its progress, and when it is done, offer the
// new list (or show it, when there was none). No inline script (CSP script-src 'self');
// without script the page still works by reloading.
(function () {
  "use strict";
  var page = document.getElementById("worklist-page");
  var progress = document.getElementById("refresh-progress");
  if (!page || !progress || !window.fetch) {
    return;
  }
  var url = page.getAttribute("data-status-url");
  var shown = page.getAttribute("data-latest");

  function text(id, value) {
    var element = document.getElementById(id);
    if (element && value !== null && value !== undefined) {
      element.textContent = String(value);
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (status) {
        if (!status) {
          window.setTimeout(poll, 5000);
          return;
        }
        if (status.running) {
          text("refresh-stage", status.stage);
          text("refresh-done", status.done);
          text("refresh-total", status.total);
          var bar = document.getElementById("refresh-bar");
          if (bar && status.total) {
            bar.max = status.total;
            bar.value = status.done;
          }
          window.setTimeout(poll, 2000);
          return;
        }
        var latest = status.latest === null ? "" : String(status.latest);
        if (!shown || status.failed) {
          window.location.reload();
          return;
        }
        progress.hidden = true;
        if (latest !== shown) {
          document.getElementById("newer-ready").hidden = false;
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }

  window.setTimeout(poll, 2000);
})();
