/*!
 * FunctionsRelay video.js plugin: follows a video.js player with the tracker of relay-beacon.js, which must be loaded
 * first, like video.js itself. The plugin only translates: it shows the tracker the player as a media element.
 *
 *   videojs('my-player').relayBeacon({ endpoint: ..., portalId: ..., key: ..., media: { externalId: ..., name: ... } });
 *
 * video.js (videojs.com/guides/plugins; docs.videojs.com/player) registers it with videojs.registerPlugin, and its
 * player re-fires the media element's events (play, pause, seeking, timeupdate, ended) whatever plays underneath
 * (its HTML5 tech, VHS for HLS and DASH, a YouTube tech). A new source (loadstart with another currentSrc()) ends the
 * session; dispose ends it and stops. A live stream (duration() Infinity, or the liveTracker says live) sends
 * media.live: true. Like the tracker, it never throws into the page.
 */
(function (root) {
  'use strict';

  function warn(message, error) {
    try {
      if (root.console && root.console.warn) root.console.warn('[FunctionsRelay] ' + message, error || '');
    } catch (ignored) { /* nothing to do */ }
  }

  /** Follows the video.js player and tells the tracker what it does, through an element it reads as a media element. */
  function VideoJsFollower(relay, player) {
    var self = this;
    this._player = player;
    this._handlers = [];
    this.element = relay.playerElement({
      currentTime: function () { return self._call('currentTime', 0); },
      duration: function () { var d = self._call('duration', NaN); return d > 0 ? d : NaN; },
      playbackRate: function () { return self._call('playbackRate', 1); },
      currentSrc: function () { return self._call('currentSrc', ''); }
    });
    this.element.tagName = this._call('isAudio', false) ? 'AUDIO' : 'VIDEO';
    this.element.paused = this._call('paused', true); // attached to a player that is already playing: a session now
    this._source = this.element.currentSrc;

    this._on('play', function () {
      var element = self.element;
      if (self.onPlay) self.onPlay();
      element.paused = false;
      element.ended = false;
      element.dispatch('play');
    });
    this._on('pause', function () {
      // At the end, video.js (like the element) pauses first: 'ended' follows and says it.
      self.element.ended = self._call('ended', false);
      self.element.paused = true;
      self.element.dispatch('pause');
    });
    this._on('ended', function () {
      self.element.paused = true;
      self.element.ended = true;
      self.element.dispatch('ended');
    });
    this._on('seeking', function () { self.element.observe(self.element.currentTime, true); });
    this._on('timeupdate', function () { self.element.observe(self.element.currentTime, false); });
    this._on('loadstart', function () {
      // Another source in the same player: the next play is a new session.
      var source = self.element.currentSrc;
      if (source === self._source) return;
      self._source = source;
      self.element.paused = true;
      self.element.dispatch('emptied');
      if (self.onNewSource) self.onNewSource(source);
    });
    this._on('dispose', function () {
      self.element.paused = true;
      self.element.dispatch('emptied');
      self.stop();
    });
  }

  VideoJsFollower.prototype = {
    stop: function () {
      for (var i = 0; i < this._handlers.length; i++) {
        try { this._player.off(this._handlers[i].type, this._handlers[i].handler); } catch (ignored) { /* disposed */ }
      }
      this._handlers = [];
    },

    live: function () {
      var player = this._player;
      try {
        if (player.liveTracker && typeof player.liveTracker.isLive === 'function' && player.liveTracker.isLive()) return true;
      } catch (ignored) { /* an older video.js */ }
      return this._call('duration', 0) === Infinity;
    },

    _on: function (type, handler) {
      var guarded = function () {
        try { handler(); } catch (error) { warn('could not follow the video.js player (' + type + ')', error); }
      };
      this._player.on(type, guarded);
      this._handlers.push({ type: type, handler: guarded });
    },

    /** A method of the player, or the fallback once it is disposed. */
    _call: function (name, fallback) {
      try {
        if (typeof this._player.isDisposed === 'function' && this._player.isDisposed()) return fallback;
        var value = this._player[name]();
        return value === undefined || value === null ? fallback : value;
      } catch (error) {
        return fallback;
      }
    }
  };

  var inert = { sessionId: null, end: function () {}, flush: function () {}, detach: function () {} };

  /**
   * Tracks a video.js player. Options as FunctionsRelay.track; media.url defaults to the player's https source,
   * media.type to AUDIO for an audio-only player, media.live to whether the source is live. Returns the tracker;
   * detach() also stops following the player.
   */
  function trackVideoJs(player, options) {
    try {
      var relay = root.FunctionsRelay;
      if (!relay || typeof relay.follow !== 'function') {
        warn('the video.js plugin needs relay-beacon.js loaded first');
        return inert;
      }
      if (!player || typeof player.on !== 'function' || typeof player.currentTime !== 'function') {
        warn('relayBeacon() needs a video.js player');
        return inert;
      }
      var follower = new VideoJsFollower(relay, player);
      var given = (options && options.media) || {};
      return relay.follow(follower.element, options || {}, function (media) {
        var describe = function (source) {
          if (!given.url) media.url = /^https:\/\//.test(source) ? source : undefined;
        };
        describe(follower.element.currentSrc);
        follower.onNewSource = describe;
        // Known once the source has loaded, which is before its first play.
        var describeLive = function () { if (given.live === undefined) media.live = follower.live() || undefined; };
        describeLive();
        follower.onPlay = describeLive;
      }, function () { follower.stop(); });
    } catch (error) {
      warn('could not track this video.js player', error);
      return inert;
    }
  }

  /** Registers the plugin with a video.js that was loaded after this script, or as a module. */
  function registerVideoJs(videojs) {
    try {
      var register = videojs.registerPlugin || videojs.plugin;
      register.call(videojs, 'relayBeacon', function (options) { return trackVideoJs(this, options); });
    } catch (error) {
      warn('could not register the relayBeacon plugin with video.js', error);
    }
  }

  if (!root.FunctionsRelay) {
    warn('relay-videojs.js needs relay-beacon.js loaded first');
    return;
  }
  root.FunctionsRelay.trackVideoJs = trackVideoJs;
  root.FunctionsRelay.registerVideoJs = registerVideoJs;
  if (root.videojs) registerVideoJs(root.videojs);
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
