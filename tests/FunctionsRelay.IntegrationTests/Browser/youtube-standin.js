// A page-local stand-in of the YouTube IFrame Player API (YouTube cannot be reached here), as its reference
// (developers.google.com/youtube/iframe_api_reference) documents it: new YT.Player(id, { videoId, events }),
// onReady, then onStateChange with YT.PlayerState codes (-1 unstarted, 0 ended, 1 playing, 2 paused, 3 buffering,
// 5 cued) and event.data the state; playVideo() buffers then plays; seekTo() buffers; loadVideoById() loads and plays
// another video; getDuration() is 0 until the
// video's metadata is loaded (after playback starts); getCurrentTime() in seconds; no time update events; destroy().
// The playhead follows the wall clock while playing. window.standInPlayed lists the [from, to] stretches it played.
(function () {
  'use strict';
  var PlayerState = { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 };
  var BUFFERING_MS = 60;
  window.standInPlayed = [];

  function Player(elementId, config) {
    var self = this;
    this._videoId = config.videoId;
    this._duration = Number(config.standInDuration || 8);
    this._listeners = { onReady: [], onStateChange: [] };
    var events = config.events || {};
    if (events.onReady) this._listeners.onReady.push(events.onReady);
    if (events.onStateChange) this._listeners.onStateChange.push(events.onStateChange);
    this._state = PlayerState.UNSTARTED;
    this._position = 0;
    this._playingSince = null;
    this._metadata = false;
    this._destroyed = false;
    var iframe = document.createElement('iframe');
    iframe.id = elementId;
    iframe.title = 'YouTube stand-in';
    document.getElementById(elementId).replaceWith(iframe);
    setTimeout(function () { self._fire('onReady'); }, 10);
  }

  Player.prototype = {
    addEventListener: function (name, listener) { this._alive(); (this._listeners[name] = this._listeners[name] || []).push(listener); },
    removeEventListener: function (name, listener) {
      var list = this._listeners[name] || [];
      var at = list.indexOf(listener);
      if (at >= 0) list.splice(at, 1);
    },
    playVideo: function () {
      this._alive();
      if (this._state === PlayerState.PLAYING) return;
      var self = this;
      if (this._state === PlayerState.ENDED) this._position = 0;
      this._setState(PlayerState.BUFFERING);
      setTimeout(function () {
        self._metadata = true;
        self._playingSince = performance.now();
        self._from = self._position;
        self._setState(PlayerState.PLAYING);
        self._watchEnd();
      }, BUFFERING_MS);
    },
    pauseVideo: function () {
      this._alive();
      if (this._state !== PlayerState.PLAYING) return;
      this._hold();
      this._setState(PlayerState.PAUSED);
    },
    seekTo: function (seconds) {
      this._alive();
      var wasPlaying = this._state === PlayerState.PLAYING;
      if (wasPlaying) this._hold();
      this._position = Math.max(0, Math.min(seconds, this._duration));
      if (wasPlaying) {
        this._setState(PlayerState.BUFFERING);
        this._state = PlayerState.BUFFERING;
        var self = this;
        setTimeout(function () { self._state = PlayerState.PAUSED; self.playVideo(); }, 0);
      }
    },
    loadVideoById: function (videoId) {
      // Loads another video and plays it: unstarted (-1), then buffering and playing.
      this._alive();
      this._hold();
      this._videoId = videoId;
      this._position = 0;
      this._metadata = false;
      this._setState(PlayerState.UNSTARTED);
      this.playVideo();
    },
    getCurrentTime: function () {
      this._alive();
      if (this._playingSince === null) return this._position;
      return Math.min(this._duration, this._position + (performance.now() - this._playingSince) / 1000);
    },
    getDuration: function () { this._alive(); return this._metadata ? this._duration : 0; },
    getPlaybackRate: function () { this._alive(); return 1; },
    getPlayerState: function () { this._alive(); return this._state; },
    getVideoUrl: function () { this._alive(); return 'https://www.youtube.com/watch?v=' + encodeURIComponent(this._videoId); },
    destroy: function () {
      this._hold();
      clearTimeout(this._endTimer);
      this._destroyed = true;
      var iframe = document.getElementById('player');
      if (iframe) iframe.remove();
    },

    _alive: function () {
      // The real player's methods stop working once it is destroyed (its iframe gone).
      if (this._destroyed) throw new Error('the player was destroyed');
    },
    _hold: function () {
      if (this._playingSince === null) return;
      this._position = this.getCurrentTime();
      window.standInPlayed.push([this._from, this._position]);
      this._playingSince = null;
      clearTimeout(this._endTimer);
    },
    _watchEnd: function () {
      var self = this;
      clearTimeout(this._endTimer);
      this._endTimer = setTimeout(function () {
        if (self._state !== PlayerState.PLAYING) return;
        if (self.getCurrentTime() < self._duration) return self._watchEnd();
        self._hold();
        self._setState(PlayerState.ENDED);
      }, Math.max(10, (this._duration - this.getCurrentTime()) * 1000));
    },
    _setState: function (state) {
      this._state = state;
      this._fire('onStateChange', state);
    },
    _fire: function (name, data) {
      var list = (this._listeners[name] || []).slice();
      for (var i = 0; i < list.length; i++) list[i]({ target: this, data: data });
    }
  };

  window.YT = { Player: Player, PlayerState: PlayerState };
})();
