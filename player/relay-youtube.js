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

  /** Follows the YouTube player and tells the tracker what it does, through an element it reads as a media element. */
  function YouTubeFollower(relay, player) {
    var self = this;
    this._player = player;
    this._poll = null;
    this._position = 0;
    this._videoUrl = '';
    this.element = relay.playerElement({
      currentTime: function () { return self._call('getCurrentTime', self._position); },
      // 0 until YouTube has the video's metadata: NaN tells the tracker it is not known yet.
      duration: function () { var d = self._call('getDuration', 0); return d > 0 ? d : NaN; },
      playbackRate: function () { return self._call('getPlaybackRate', 1); },
      currentSrc: function () { return self._call('getVideoUrl', self._videoUrl); }
    });
    this._videoUrl = this._call('getVideoUrl', '');
    this._onState = function (event) {
      try { self._state(event && event.data); } catch (error) { warn('could not follow the YouTube player', error); }
    };
    player.addEventListener('onStateChange', this._onState);
  }

  YouTubeFollower.prototype = {
    stop: function () {
      this._stopPolling();
      try { this._player.removeEventListener('onStateChange', this._onState); } catch (ignored) { /* destroyed */ }
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
      this.element.paused = true;
      // The tracker ends the session, once the call that found the player gone has returned.
      var element = this.element;
      root.setTimeout(function () {
        try { element.dispatch('emptied'); } catch (error) { warn('could not end the session of a destroyed YouTube player', error); }
      }, 0);
    },

    _state: function (state) {
      var element = this.element;
      if (state === PLAYING) {
        this._look();
        // Playing again after buffering (a seek, a slow network): still the same play.
        if (!element.paused) return this._startPolling();
        element.paused = false;
        element.ended = false;
        element.dispatch('play');
        this._startPolling();
      } else if (state === PAUSED) {
        this._look(); // where it stopped, for a seek made while paused
        this._stopPolling();
        element.paused = true;
        element.dispatch('pause');
      } else if (state === ENDED) {
        this._stopPolling();
        this._look();
        element.paused = true;
        element.ended = true;
        element.dispatch('ended');
      } else if (state === UNSTARTED || state === CUED) {
        // Another video in the same player: the next play is a new session.
        var url = this._call('getVideoUrl', this._videoUrl);
        if (url !== this._videoUrl) {
          this._videoUrl = url;
          this._stopPolling();
          element.dispatch('emptied');
          if (this.onNewVideo) this.onNewVideo(url);
        }
      }
    },

    _startPolling: function () {
      if (this._poll) return;
      var self = this;
      this._poll = root.setInterval(function () {
        try {
          self._look();
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

    /** Where the playhead is now, for the tracker: a time update, or a seek if it jumped. */
    _look: function () {
      this._position = this.element.currentTime;
      this.element.observe(this._position, false);
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
      if (!relay || typeof relay.follow !== 'function') {
        warn('trackYouTube() needs relay-beacon.js loaded first');
        return inert;
      }
      if (!player || typeof player.addEventListener !== 'function' || typeof player.getCurrentTime !== 'function') {
        warn('trackYouTube() needs a YT.Player');
        return inert;
      }
      var follower = new YouTubeFollower(relay, player);
      var given = (options && options.media) || {};
      return relay.follow(follower.element, options || {}, function (media) {
        // What the page did not say of the media comes from the video, again for each video the player loads.
        var describe = function (url) {
          var id = videoId(url);
          if (!given.externalId && !given.mediaBridgeId) media.externalId = id || undefined;
          if (!given.url) media.url = /^https:\/\//.test(url) ? url : undefined;
          if (!given.oembedUrl) media.oembedUrl = media.url ? 'https://www.youtube.com/oembed?format=json&url=' + encodeURIComponent(media.url) : undefined;
        };
        describe(follower.element.currentSrc);
        follower.onNewVideo = describe;
        media.type = 'VIDEO';
      }, function () { follower.stop(); });
    } catch (error) {
      warn('could not track this YouTube player', error);
      return inert;
    }
  }

  if (root.FunctionsRelay) root.FunctionsRelay.trackYouTube = trackYouTube;
  else warn('relay-youtube.js needs relay-beacon.js loaded first');
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
