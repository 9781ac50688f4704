/* The door page: scan QR codes with the phone's camera where the browser has the
   BarcodeDetector API, and keep the arrived/expected counts fresh. Without it (or
   without JavaScript) the code field, a hand scanner and the name search work. */
(function () {
  "use strict";

  var counts = document.getElementById("door-counts");
  if (counts && window.fetch) {
    var url = counts.getAttribute("data-counts-url");
    window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          counts.querySelector("[data-arrived]").textContent = String(data.arrived);
          counts.querySelector("[data-expected]").textContent = String(data.expected);
          var exhibitors = counts.querySelector("[data-exhibitors-arrived]");
          if (exhibitors) {
            exhibitors.textContent = String(data.exhibitors_arrived);
            counts.querySelector("[data-exhibitors-expected]").textContent = String(data.exhibitors_expected);
          }
        })
        .catch(function () {});
    }, 10000);
  }

  var camera = document.getElementById("camera");
  var form = document.getElementById("scan-form");
  if (!camera || !form || !("BarcodeDetector" in window) || !navigator.mediaDevices) { return; }
  var start = document.getElementById("camera-start");
  var video = document.getElementById("camera-video");
  var status = document.getElementById("camera-status");
  var field = document.getElementById("code");
  var detector;
  try {
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  } catch (error) {
    return;
  }
  camera.hidden = false;
  var stream = null;
  var busy = false;

  function stop() {
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
  }

  function scanFrame() {
    if (!stream || busy) { return; }
    detector.detect(video).then(function (codes) {
      if (codes.length && codes[0].rawValue) {
        busy = true;
        field.value = codes[0].rawValue;
        stop();
        form.submit();
        return;
      }
      window.requestAnimationFrame(scanFrame);
    }).catch(function () { window.requestAnimationFrame(scanFrame); });
  }

  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        start.hidden = true;
        status.textContent = start.getAttribute("data-scanning") || "";
        return video.play();
      })
      .then(scanFrame)
      .catch(function (error) {
        status.textContent = String(error && error.message ? error.message : error);
      });
  });

  // After an answer the staff member taps once to scan the next ticket.
  if (document.getElementById("door-result")) { start.focus(); }
  window.addEventListener("pagehide", stop);
})();
