// A page-local stand-in of the Vimeo Player SDK (Vimeo cannot be reached here), as its README
// (github.com/vimeo/player.js) documents it: new Vimeo.Player(element, { id }); on(event, callback) and off(); events
// play, pause, ended, timeupdate (about every 250 ms while playing), seeked and loaded, each with { seconds, duration,
// percent } (loaded: { id }); play(), pause(), setCurrentTime(seconds), loadVideo(id), getVideoId(), getCurrentTime() and destroy()
// answer with promises. The playhead follows the wall clock while playing; at the end it pauses and sends ended (the
// order here: timeupdate, pause, ended, our reading). window.standInPlayed lists the [from, to] stretches it played.
(function () {
  'use strict';
  window.standInPlayed = [];

  function Player(element, options) {
    this._id = options.id;
    this._duration = Number(options.standInDuration || 8);
    this._listeners = {};
    this._position = 0;
    this._playingSince = null;
    this._destroyed = false;
    var iframe = document.createElement('iframe');
    iframe.title = 'Vimeo stand-in';
    (typeof element === 'string' ? document.getElementById(element) : element).appendChild(iframe);
  }

  Player.prototype = {
    on: function (name, callback) { (this._listeners[name] = this._listeners[name] || []).push(callback); },
    off: function (name, callback) {
      var list = this._listeners[name] || [];
      var at = list.indexOf(callback);
      if (at >= 0) list.splice(at, 1);
    },
    play: function () {
      if (this._destroyed) return Promise.reject(new Error('the player was destroyed'));
      if (this._playingSince !== null) return Promise.resolve();
      if (this._position >= this._duration) this._position = 0;
      this._playingSince = performance.now();
      this._from = this._position;
      this._fire('play');
      this._tick();
      return Promise.resolve();
    },
    pause: function () {
      if (this._destroyed) return Promise.reject(new Error('the player was destroyed'));
      if (this._playingSince === null) return Promise.resolve();
      this._hold();
      this._fire('pause');
      return Promise.resolve();
    },
    setCurrentTime: function (seconds) {
      if (this._destroyed) return Promise.reject(new Error('the player was destroyed'));
      var playing = this._playingSince !== null;
      if (playing) this._hold();
      this._position = Math.max(0, Math.min(seconds, this._duration));
      if (playing) {
        this._playingSince = performance.now();
        this._from = this._position;
        this._tick();
      }
      this._fire('seeked');
      return Promise.resolve(this._position);
    },
    // Another video in the same embed: stopped at its start, then loaded with its id (the SDK's loadVideo and loaded).
    loadVideo: function (id) {
      if (this._destroyed) return Promise.reject(new Error('the player was destroyed'));
      this._hold();
      this._id = id;
      this._position = 0;
      this._fire('loaded', { id: id });
      return Promise.resolve(id);
    },
    getVideoId: function () { return this._destroyed ? Promise.reject(new Error('the player was destroyed')) : Promise.resolve(this._id); },
    getCurrentTime: function () { return this._destroyed ? Promise.reject(new Error('the player was destroyed')) : Promise.resolve(this._now()); },
    destroy: function () {
      this._hold();
      this._destroyed = true;
      this._listeners = {};
      return Promise.resolve();
    },

    _now: function () {
      if (this._playingSince === null) return this._position;
      return Math.min(this._duration, this._position + (performance.now() - this._playingSince) / 1000);
    },
    _hold: function () {
      clearTimeout(this._timer);
      if (this._playingSince === null) return;
      this._position = this._now();
      window.standInPlayed.push([this._from, this._position]);
      this._playingSince = null;
    },
    _tick: function () {
      var self = this;
      clearTimeout(this._timer);
      this._timer = setTimeout(function () {
        if (self._playingSince === null || self._destroyed) return;
        self._fire('timeupdate');
        if (self._now() >= self._duration) {
          self._hold();
          self._fire('pause');
          self._fire('ended');
          return;
        }
        self._tick();
      }, 250);
    },
    _fire: function (name, given) {
      var seconds = Math.round(this._now() * 1000) / 1000;
      var data = given || { seconds: seconds, duration: this._duration, percent: Math.round(seconds / this._duration * 1000) / 1000 };
      var list = (this._listeners[name] || []).slice();
      for (var i = 0; i < list.length; i++) list[i](data);
    }
  };

  window.Vimeo = { Player: Player };
})();
