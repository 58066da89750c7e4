// The kiln chat page: log in, pick a room, see its history and who is
// online, and get every message live over kiln's channel client (SSE or
// WebSocket). Text is always set with textContent: never parsed as HTML.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var rooms = ["lobby", "random", "kiln"];
  var state = {user: document.body.dataset.user, room: "", conn: null, sub: null, presence: null, last: 0, seen: {}};

  function api(method, path, form, idemKey) {
    var opts = {method: method, credentials: "same-origin", headers: {}};
    if (form) opts.body = new URLSearchParams(form);
    if (idemKey) opts.headers["Idempotency-Key"] = idemKey;
    return fetch("api/" + path, opts).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error(b.error || r.statusText);
        return b;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function show(loggedIn) {
    $("login-view").hidden = loggedIn;
    $("chat-view").hidden = !loggedIn;
    if (loggedIn) $("me").textContent = state.user;
  }

  function setState(live) {
    $("state").textContent = live ? "live" : "reconnecting";
    $("state").classList.toggle("live", live);
  }

  function connect() {
    if (state.conn) state.conn.close();
    var t = $("transport").value;
    localStorage.setItem("kiln-chat-transport", t);
    state.conn = kiln.channels.connect({transport: t, url: "channels"});
  }

  // add shows one message, once, in offset order after the ones shown.
  function add(m) {
    if (state.seen[m.offset] || m.offset <= state.last) return;
    state.seen[m.offset] = true;
    state.last = m.offset;
    var li = el("li", m.user === state.user ? "mine" : "");
    li.dataset.offset = m.offset;
    var head = el("div");
    head.appendChild(el("span", "who", m.user || "?"));
    var when = new Date(m.time).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    head.appendChild(el("span", "when", when + (m.node ? " · via " + m.node : "")));
    li.appendChild(head);
    li.appendChild(el("p", "text", typeof m.text === "string" ? m.text : ""));
    var list = $("messages");
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.appendChild(li);
    if (atBottom || m.user === state.user) list.scrollTop = list.scrollHeight;
  }

  function fromChannel(msg) {
    var d = msg.data || {};
    return {offset: msg.offset, time: msg.time, user: d.user, text: d.text, node: d.node};
  }

  // join subscribes first and buffers, then loads the history, so that no
  // message falls between the two.
  function join(room) {
    if (state.sub) state.sub.unsubscribe();
    if (state.presence) state.presence.unsubscribe();
    state.room = room; state.last = 0; state.seen = {};
    $("messages").textContent = "";
    $("room-title").textContent = "#" + room;
    location.hash = room;
    renderRooms();
    var buffered = [], loaded = false;
    state.sub = state.conn.subscribe("/chat/" + room, function (msg) {
      if (loaded) add(fromChannel(msg)); else buffered.push(msg);
    }, {
      onSubscribed: function () { setState(true); refreshPeople(); },
      onCannotRecover: function () { notice("Some messages were missed while offline; reloaded the room."); loadHistory(); },
      onError: function (reason) { setState(false); if (reason === "logged out") { state.user = ""; show(false); } }
    });
    state.presence = state.conn.subscribe("/meta/presence/chat/" + room, refreshPeople);
    loadHistory().then(function () {
      loaded = true;
      buffered.forEach(function (m) { add(fromChannel(m)); });
    });
  }

  function loadHistory() {
    return api("GET", "rooms/" + state.room + "/messages").then(function (b) {
      b.messages.forEach(add);
    }, function (e) { notice("History: " + e.message); });
  }

  function refreshPeople() {
    api("GET", "rooms/" + state.room + "/presence").then(function (b) {
      var ul = $("people");
      ul.textContent = "";
      (b.users || []).forEach(function (u) {
        var li = el("li", "", u.user);
        li.appendChild(el("span", "nodes", u.nodes.join(", ")));
        ul.appendChild(li);
      });
    }, function () {});
  }

  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = !text;
  }

  function renderRooms() {
    var ul = $("rooms");
    ul.textContent = "";
    rooms.forEach(function (r) {
      var a = el("a", r === state.room ? "current" : "", "#" + r);
      a.href = "#" + r;
      var li = el("li");
      li.appendChild(a);
      ul.appendChild(li);
    });
  }

  function key() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // send posts the text; a retry after a lost answer reuses the key, so
  // the message is delivered once.
  function send(text, k, attempt) {
    return api("POST", "rooms/" + state.room + "/messages", {text: text}, k).catch(function (e) {
      if (attempt >= 3) throw e;
      return new Promise(function (r) { setTimeout(r, 400 * (attempt + 1)); }).then(function () { return send(text, k, attempt + 1); });
    });
  }

  function start() {
    show(true);
    connect();
    var room = location.hash.slice(1) || "lobby";
    if (rooms.indexOf(room) < 0) rooms.push(room);
    join(room);
  }

  $("transport").value = localStorage.getItem("kiln-chat-transport") || "sse";
  $("transport").addEventListener("change", function () { connect(); join(state.room); });

  $("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "login", {user: $("user").value}).then(function (b) {
      state.user = b.user;
      $("login-error").textContent = "";
      start();
    }, function (e) { $("login-error").textContent = e.message; });
  });

  $("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("text"), text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text, key(), 0).then(function () { notice(""); }, function (e) { input.value = text; notice("Not sent: " + e.message); });
  });

  $("join").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var r = $("room-name").value.trim().toLowerCase();
    if (!/^[a-z0-9-]{1,32}$/.test(r)) return;
    if (rooms.indexOf(r) < 0) rooms.push(r);
    $("room-name").value = "";
    location.hash = r;
  });

  window.addEventListener("hashchange", function () {
    var r = location.hash.slice(1);
    if (state.user && r && r !== state.room && /^[a-z0-9-]{1,32}$/.test(r)) {
      if (rooms.indexOf(r) < 0) rooms.push(r);
      join(r);
    }
  });

  $("logout").addEventListener("click", function () {
    api("POST", "logout", {}).then(function () {
      if (state.conn) state.conn.close();
      state.user = "";
      show(false);
    });
  });

  if (state.user) start(); else show(false);
})();
