// Transcript replay: the left and right arrow keys step to the previous and next post.
document.addEventListener("keydown", function (e) {
  var id = e.key === "ArrowLeft" ? "replay-previous" : e.key === "ArrowRight" ? "replay-next" : null;
  var link = id && document.getElementById(id);
  if (link) { window.location = link.href; }
});
