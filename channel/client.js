// kiln channels: a small, dependency-free browser client for kiln's
// channel transports (Server-Sent Events and WebSocket), served by
// channel.ClientHandler. The same API over both:
//
//   const conn = kiln.channels.connect({transport: "sse", url: "/channels"});
//   const sub = conn.subscribe("/chat/lobby", msg => show(msg.from, msg.data));
//   await conn.publish("/chat/lobby", {text: "hello"});
//   sub.unsubscribe(); conn.close();
//
// It reconnects by itself with exponential backoff and full jitter, and
// resumes every subscription from the last position it received, so a
// reconnecting client gets exactly the messages it missed; when the server
// cannot recover them (they fell out of history, or the channel's epoch
// changed) the subscription's onCannotRecover is called and live messages
// go on. A publish carries an idempotency ID and is retried with it after
// a lost connection, so it is delivered once.
(function (global) {
  "use strict";

  var defaults = {
    transport: "sse",     // "sse" or "ws"
    url: "/channels",     // where channel.Mount serves sse, ws and publish
    minDelay: 500,        // first reconnect delay, ms
    maxDelay: 15000,      // longest reconnect delay, ms
    publishRetries: 3     // attempts of one publish over HTTP (sse)
  };

  // Fatal reasons: the server will refuse a reconnection, so none is made.
  var fatal = {"logged out": true, "forbidden": true, "bad channel": true};

  function assign(dst, src) {
    for (var k in src) if (Object.prototype.hasOwnProperty.call(src, k)) dst[k] = src[k];
    return dst;
  }

  // backoff returns the delay before reconnection attempt n (0-based):
  // a random time between half and all of min(maxDelay, minDelay*2^n).
  function backoff(o, n) {
    var d = Math.min(o.maxDelay, o.minDelay * Math.pow(2, n));
    return d / 2 + Math.random() * d / 2;
  }

  function newID() {
    var a = new Uint8Array(12);
    (global.crypto || global.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function absURL(base, path, ws) {
    var u = new URL(base.replace(/\/$/, "") + "/" + path, global.location.href);
    if (ws) u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u;
  }

  function noop() {}

  // Subscription is what subscribe returns; its position moves with every
  // message received.
  function Subscription(conn, channel, onMessage, opts) {
    this.conn = conn;
    this.channel = channel;
    this.onMessage = onMessage;
    this.onCannotRecover = opts.onCannotRecover || noop;
    this.onError = opts.onError || noop;
    this.onSubscribed = opts.onSubscribed || noop;
    this.position = opts.since || "";
    this.closed = false;
  }
  Subscription.prototype.unsubscribe = function () {
    if (this.closed) return;
    this.closed = true;
    this.conn._unsubscribe(this);
  };
  Subscription.prototype._deliver = function (msg) {
    this.position = msg.epoch + ":" + msg.offset;
    try { this.onMessage(msg); } catch (e) { setTimeout(function () { throw e; }); }
  };
  Subscription.prototype._fail = function (reason) {
    this.closed = true;
    this.onError(reason);
  };

  // ---- Server-Sent Events: one EventSource per subscription, publish by POST.

  function SSEConn(o) {
    this.o = o;
    this.subs = [];
    this.closed = false;
  }
  SSEConn.prototype.subscribe = function (sub) {
    this.subs.push(sub);
    this._open(sub, 0);
  };
  SSEConn.prototype._open = function (sub, attempt) {
    var self = this;
    if (sub.closed || self.closed) return;
    var u = absURL(self.o.url, "sse");
    u.searchParams.set("channel", sub.channel);
    if (sub.position) u.searchParams.set("since", sub.position);
    var es = new EventSource(u.toString(), {withCredentials: true});
    sub._es = es;
    var ok = false;
    es.addEventListener("subscribed", function (ev) {
      ok = true;
      attempt = 0;
      sub.onSubscribed(JSON.parse(ev.data));
    });
    es.onmessage = function (ev) { sub._deliver(JSON.parse(ev.data)); };
    es.addEventListener("cannot-recover", function (ev) { sub.onCannotRecover(JSON.parse(ev.data)); });
    es.addEventListener("error", function (ev) {
      es.close();
      if (ev.data) { // the server's error event: it says why it ends the stream
        var reason = JSON.parse(ev.data).reason;
        if (fatal[reason]) { sub._fail(reason); return; }
      }
      var d = backoff(self.o, ok ? 0 : attempt);
      setTimeout(function () { self._open(sub, ok ? 1 : attempt + 1); }, d);
      ok = false;
    });
  };
  SSEConn.prototype.unsubscribe = function (sub) {
    if (sub._es) sub._es.close();
    this.subs = this.subs.filter(function (s) { return s !== sub; });
  };
  SSEConn.prototype.publish = function (channel, data, id) {
    var self = this, attempt = 0;
    var u = absURL(self.o.url, "publish");
    u.searchParams.set("channel", channel);
    function send() {
      return fetch(u.toString(), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Idempotency-Key": id},
        body: JSON.stringify(data)
      }).then(function (resp) {
        return resp.json().then(function (body) {
          if (resp.ok) return body;
          var err = new Error(body.error || resp.statusText);
          err.status = resp.status;
          if (resp.status === 503 && ++attempt < self.o.publishRetries) return retry();
          throw err;
        });
      }, function (netErr) { // not answered: it may or may not have been published
        if (++attempt < self.o.publishRetries) return retry();
        throw netErr;
      });
    }
    function retry() {
      return new Promise(function (r) { setTimeout(r, backoff(self.o, attempt)); }).then(send);
    }
    return send();
  };
  SSEConn.prototype.close = function () {
    this.closed = true;
    this.subs.forEach(function (s) { if (s._es) s._es.close(); });
  };

  // ---- WebSocket: one connection, JSON frames.

  function WSConn(o) {
    this.o = o;
    this.subs = {};      // channel -> Subscription
    this.pending = {};   // ref -> {frame, resolve, reject}
    this.nextRef = 1;
    this.attempt = 0;
    this.closed = false;
    this._dial();
  }
  WSConn.prototype._dial = function () {
    var self = this;
    if (self.closed) return;
    var ws = new WebSocket(absURL(self.o.url, "ws", true).toString());
    self.ws = ws;
    ws.onopen = function () {
      self.attempt = 0;
      for (var ch in self.subs) self._sendSubscribe(self.subs[ch]);
      for (var ref in self.pending) self._send(self.pending[ref].frame); // same id: delivered once
    };
    ws.onmessage = function (ev) { self._frame(JSON.parse(ev.data)); };
    ws.onclose = function (ev) {
      if (self.closed) return;
      if (fatal[ev.reason]) {
        for (var ch in self.subs) self.subs[ch]._fail(ev.reason);
        self.subs = {};
        self._rejectAll(new Error(ev.reason));
        return;
      }
      setTimeout(function () { self._dial(); }, backoff(self.o, self.attempt++));
    };
  };
  WSConn.prototype._send = function (frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  };
  WSConn.prototype._sendSubscribe = function (sub) {
    var f = {type: "subscribe", channel: sub.channel};
    if (sub.position) f.since = sub.position;
    this._send(f);
  };
  WSConn.prototype._frame = function (f) {
    var sub = this.subs[f.sub || f.channel];
    switch (f.type) {
      case "message": if (sub) sub._deliver(f.message); break;
      case "subscribed": if (sub) sub.onSubscribed(f); break;
      case "cannot-recover": if (sub) sub.onCannotRecover(f); break;
      case "unsubscribed": // the server ended it (slow, logged out, refused)
        if (sub) { delete this.subs[sub.channel]; sub._fail(f.reason); }
        break;
      case "published": this._settle(f.ref, null, f.publication); break;
      case "error":
        if (f.ref) this._settle(f.ref, f.error, null);
        else if (sub) { delete this.subs[sub.channel]; sub._fail(f.error); }
        break;
    }
  };
  WSConn.prototype._settle = function (ref, err, val) {
    var p = this.pending[ref];
    if (!p) return;
    delete this.pending[ref];
    if (err) p.reject(new Error(err)); else p.resolve(val);
  };
  WSConn.prototype._rejectAll = function (err) {
    for (var ref in this.pending) this.pending[ref].reject(err);
    this.pending = {};
  };
  WSConn.prototype.subscribe = function (sub) {
    this.subs[sub.channel] = sub;
    this._sendSubscribe(sub);
  };
  WSConn.prototype.unsubscribe = function (sub) {
    if (this.subs[sub.channel] !== sub) return;
    delete this.subs[sub.channel];
    this._send({type: "unsubscribe", channel: sub.channel});
  };
  WSConn.prototype.publish = function (channel, data, id) {
    var self = this, ref = String(self.nextRef++);
    var frame = {type: "publish", ref: ref, channel: channel, id: id, data: data};
    return new Promise(function (resolve, reject) {
      self.pending[ref] = {frame: frame, resolve: resolve, reject: reject};
      self._send(frame); // or at the next open
    });
  };
  WSConn.prototype.close = function () {
    this.closed = true;
    this._rejectAll(new Error("closed"));
    if (this.ws) this.ws.close(1000, "closed");
  };

  // ---- the API

  function Connection(opts) {
    this.o = assign(assign({}, defaults), opts || {});
    if (this.o.transport !== "sse" && this.o.transport !== "ws") {
      throw new Error("kiln.channels: transport " + this.o.transport + ": want sse or ws");
    }
    this.t = this.o.transport === "ws" ? new WSConn(this.o) : new SSEConn(this.o);
  }
  // subscribe calls onMessage(msg) for every message on channel (a name or
  // a pattern with * or **): msg = {channel, offset, epoch, id, time, from,
  // data}. opts: since ("epoch:offset" to start after), onSubscribed,
  // onCannotRecover, onError(reason) when the server ends it for good.
  Connection.prototype.subscribe = function (channel, onMessage, opts) {
    var sub = new Subscription(this, channel, onMessage, opts || {});
    this.t.subscribe(sub);
    return sub;
  };
  Connection.prototype._unsubscribe = function (sub) { this.t.unsubscribe(sub); };
  // publish sends data (any JSON value) to channel; the promise resolves
  // with the publication {channel, offset, epoch, id} once the server has
  // it, and rejects with the server's reason.
  Connection.prototype.publish = function (channel, data) {
    return this.t.publish(channel, data, newID());
  };
  Connection.prototype.close = function () { this.t.close(); };

  global.kiln = global.kiln || {};
  global.kiln.channels = {
    connect: function (opts) { return new Connection(opts); },
    _backoff: backoff
  };
})(typeof window !== "undefined" ? window : this);
