/*!
 * FunctionsRelay YouTube adapter: follows a YouTube IFrame Player (YT.Player) with the tracker of relay-beacon.js,
 * which must be loaded first. The adapter only translates: it shows the tracker the player as a media element.
 *
 *   var tracker = FunctionsRelay.trackYouTube(ytPlayer, { endpoint: ..., portalId: ..., key: ..., media: { ... } });
 *
 * YouTube's API (developers.google.com/youtube/iframe_api_reference) says what happened through onStateChange
 * (-1 unstarted, 0 ended, 1 playing, 2 paused, 3 buffering, 5 cued) and fires no time updates, so the adapter asks
 * getCurrentTime() every 250 ms while playing; a jump of the playhead is a seek. Like the tracker, it never throws
 * into the page: a player that was destroyed ends its session.
 */
(function (root) {
  'use strict';

  var POLL_MS = 250;
  // Further from where the playhead should be than polling and buffering explain: the viewer moved it.
  var SEEK_SECONDS = 1.5;
  var PLAYING = 1;
  var PAUSED = 2;
  var ENDED = 0;
  var UNSTARTED = -1;
  var CUED = 5;

  function warn(message, error) {
    try {
      if (root.console && root.console.warn) root.console.warn('[FunctionsRelay] ' + message, error || '');
    } catch (ignored) { /* nothing to do */ }
  }

  function now() {
    return root.performance && root.performance.now ? root.performance.now() : Date.now();
  }

  /** The YouTube player as the tracker reads a media element: events, currentTime, duration, paused, ended. */
  function YouTubeElement(player) {
    var self = this;
    this._player = player;
    this._listeners = {};
    this._poll = null;
    this._position = 0;
    this._positionAt = 0;
    this._videoUrl = this._call('getVideoUrl', '');
    this.paused = true;
    this.ended = false;
    this.seeking = false;
    this.tagName = 'VIDEO';
    Object.defineProperty(this, 'currentTime', { get: function () { return self._call('getCurrentTime', self._position); } });
    Object.defineProperty(this, 'duration', {
      // 0 until YouTube has the video's metadata: NaN tells the tracker it is not known yet.
      get: function () { var d = self._call('getDuration', 0); return d > 0 ? d : NaN; }
    });
    Object.defineProperty(this, 'playbackRate', { get: function () { return self._call('getPlaybackRate', 1); } });
    Object.defineProperty(this, 'currentSrc', { get: function () { return self._call('getVideoUrl', self._videoUrl); } });
    this._onState = function (event) {
      try { self._state(event && event.data); } catch (error) { warn('could not follow the YouTube player', error); }
    };
    player.addEventListener('onStateChange', this._onState);
  }

  YouTubeElement.prototype = {
    addEventListener: function (type, handler) {
      (this._listeners[type] = this._listeners[type] || []).push(handler);
    },

    removeEventListener: function (type, handler) {
      var list = this._listeners[type] || [];
      var at = list.indexOf(handler);
      if (at >= 0) list.splice(at, 1);
    },

    stop: function () {
      this._stopPolling();
      try { this._player.removeEventListener('onStateChange', this._onState); } catch (ignored) { /* destroyed */ }
    },

    _dispatch: function (type) {
      var list = (this._listeners[type] || []).slice();
      for (var i = 0; i < list.length; i++) list[i]();
    },

    /** A method of the player, or the fallback if it is gone (destroyed, or its iframe removed). */
    _call: function (name, fallback) {
      try {
        var value = this._player[name]();
        return value === undefined || value === null ? fallback : value;
      } catch (error) {
        this._gone();
        return fallback;
      }
    },

    _gone: function () {
      if (this._destroyed) return;
      this._destroyed = true;
      this._stopPolling();
      this.paused = true;
      // The tracker ends the session, once the call that found the player gone has returned.
      var self = this;
      root.setTimeout(function () {
        try { self._dispatch('emptied'); } catch (error) { warn('could not end the session of a destroyed YouTube player', error); }
      }, 0);
    },

    _state: function (state) {
      if (state === PLAYING) {
        this._checkSeek();
        // Playing again after buffering (a seek, a slow network): still the same play.
        if (!this.paused) return this._startPolling();
        this.paused = false;
        this.ended = false;
        this._dispatch('play');
        this._startPolling();
      } else if (state === PAUSED) {
        this._checkSeek();
        this._stopPolling();
        this._dispatch('timeupdate'); // where it stopped, for a seek made while paused
        this.paused = true;
        this._dispatch('pause');
      } else if (state === ENDED) {
        this._stopPolling();
        this._dispatch('timeupdate');
        this.paused = true;
        this.ended = true;
        this._dispatch('ended');
      } else if (state === UNSTARTED || state === CUED) {
        // Another video in the same player: the next play is a new session.
        var url = this._call('getVideoUrl', this._videoUrl);
        if (url !== this._videoUrl) {
          this._videoUrl = url;
          this._stopPolling();
          this._dispatch('emptied');
        }
      }
    },

    _startPolling: function () {
      if (this._poll) return;
      var self = this;
      this._notePosition();
      this._poll = root.setInterval(function () {
        try {
          self._checkSeek();
          self._dispatch('timeupdate');
        } catch (error) {
          warn('could not follow the YouTube player', error);
        }
      }, POLL_MS);
    },

    _stopPolling: function () {
      if (!this._poll) return;
      root.clearInterval(this._poll);
      this._poll = null;
    },

    _notePosition: function () {
      this._position = this.currentTime;
      this._positionAt = now();
    },

    /** Tells the tracker of a seek when the playhead is not where the time played since the last look puts it. */
    _checkSeek: function () {
      var position = this.currentTime;
      var expected = this._position + (this.paused ? 0 : (now() - this._positionAt) / 1000 * (this.playbackRate || 1));
      if (this._positionAt && Math.abs(position - expected) > SEEK_SECONDS) this._dispatch('seeking');
      this._position = position;
      this._positionAt = now();
    }
  };

  var inert = { sessionId: null, end: function () {}, flush: function () {}, detach: function () {} };

  /** The YouTube video id in a watch URL, for a media the page names no id of. */
  function videoId(url) {
    var match = /[?&]v=([^&#]+)/.exec(url || '');
    return match ? decodeURIComponent(match[1]) : null;
  }

  /**
   * Tracks a YT.Player (ready: its onReady has fired). Options as FunctionsRelay.track; media.externalId defaults to
   * the video's YouTube id, media.url to its watch URL and media.oembedUrl to YouTube's own oEmbed endpoint, which
   * HubSpot needs for a video object. Returns the tracker; detach() also stops following the player.
   */
  function trackYouTube(player, options) {
    try {
      var relay = root.FunctionsRelay;
      if (!relay || typeof relay.track !== 'function') {
        warn('trackYouTube() needs relay-beacon.js loaded first');
        return inert;
      }
      if (!player || typeof player.addEventListener !== 'function' || typeof player.getCurrentTime !== 'function') {
        warn('trackYouTube() needs a YT.Player');
        return inert;
      }
      options = options || {};
      var element = new YouTubeElement(player);
      var url = element.currentSrc;
      var media = {};
      var given = options.media || {};
      for (var key in given) if (Object.prototype.hasOwnProperty.call(given, key)) media[key] = given[key];
      var id = videoId(url);
      if (!media.externalId && !media.mediaBridgeId && id) media.externalId = id;
      if (!media.url && /^https:\/\//.test(url)) media.url = url;
      if (!media.oembedUrl && media.url) media.oembedUrl = 'https://www.youtube.com/oembed?format=json&url=' + encodeURIComponent(media.url);
      media.type = 'VIDEO';
      var tracked = {};
      for (var option in options) if (Object.prototype.hasOwnProperty.call(options, option)) tracked[option] = options[option];
      tracked.media = media;
      var tracker = relay.track(element, tracked);
      var followed = {
        end: function () { tracker.end(); },
        flush: function () { tracker.flush(); },
        detach: function () {
          try { tracker.detach(); element.stop(); } catch (error) { warn('could not stop following the YouTube player', error); }
        }
      };
      Object.defineProperty(followed, 'sessionId', { get: function () { return tracker.sessionId; } });
      return followed;
    } catch (error) {
      warn('could not track this YouTube player', error);
      return inert;
    }
  }

  if (root.FunctionsRelay) root.FunctionsRelay.trackYouTube = trackYouTube;
  else warn('relay-youtube.js needs relay-beacon.js loaded first');
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
