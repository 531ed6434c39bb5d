// The siogate chat demo: the official socket.io-client talking to a
// siogate gateway.
(function () {
  const socket = io();
  const $ = (id) => document.getElementById(id);
  const log = (text) => {
    const p = document.createElement("p");
    p.textContent = text;
    $("log").appendChild(p);
    $("log").scrollTop = $("log").scrollHeight;
  };
  socket.on("connect", () => { $("status").textContent = "connected"; });
  socket.on("disconnect", (reason) => { $("status").textContent = "disconnected (" + reason + ")"; });
  socket.on("joined", (room) => { $("room").textContent = room; log("joined " + room); });
  socket.on("chat", (m) => log(m.from + ": " + m.text));
  const onSubmit = (form, input, event) => {
    $(form).addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $(input).value.trim();
      if (!value) return;
      socket.emit(event, value, (ok) => { if (ok && event === "chat") $(input).value = ""; });
    });
  };
  onSubmit("nick-form", "nick", "nick");
  onSubmit("room-form", "room-name", "join");
  onSubmit("chat-form", "text", "chat");
})();
