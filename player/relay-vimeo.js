/*!
 * FunctionsRelay Vimeo adapter: follows a Vimeo player (the Player SDK's Vimeo.Player) with the tracker of
 * relay-beacon.js, which must be loaded first. The adapter only translates.
 *
 *   var tracker = FunctionsRelay.trackVimeo(vimeoPlayer, { endpoint: ..., portalId: ..., key: ..., media: { ... } });
 *
 * The SDK (github.com/vimeo/player.js) sends play, pause, seeked, timeupdate (about every 250 ms) and ended, each with
 * { seconds, duration, percent }, and loaded with { id } when another video is loaded; its methods answer with
 * promises. The tracker reads the playhead synchronously, so the adapter keeps what the last event said. Like the
 * tracker, it never throws into the page.
 */
(function (root) {
  'use strict';

  var EVENTS = ['play', 'pause', 'ended', 'timeupdate', 'seeked', 'loaded'];

  function warn(message, error) {
    try {
      if (root.console && root.console.warn) root.console.warn('[FunctionsRelay] ' + message, error || '');
    } catch (ignored) { /* nothing to do */ }
  }

  function VimeoFollower(relay, player) {
    var self = this;
    this._player = player;
    this._seconds = 0;
    this._duration = NaN;
    this.element = relay.playerElement({
      currentTime: function () { return self._seconds; },
      duration: function () { return self._duration; }
    });
    this._handlers = {};
    EVENTS.forEach(function (name) {
      self._handlers[name] = function (data) {
        try { self._event(name, data || {}); } catch (error) { warn('could not follow the Vimeo player', error); }
      };
      player.on(name, self._handlers[name]);
    });
  }

  VimeoFollower.prototype = {
    stop: function () {
      var self = this;
      EVENTS.forEach(function (name) {
        try { self._player.off(name, self._handlers[name]); } catch (ignored) { /* destroyed */ }
      });
    },

    _event: function (name, data) {
      var element = this.element;
      if (data.duration > 0) this._duration = data.duration;
      if (name === 'loaded') {
        // Another video in the same player: the next play is a new session, of that video.
        element.dispatch('emptied');
        if (this.onNewVideo && data.id) this.onNewVideo(data.id);
        return;
      }
      if (typeof data.seconds === 'number') {
        this._seconds = data.seconds;
        element.observe(data.seconds, name === 'seeked');
      }
      if (name === 'play' && element.paused) {
        element.paused = false;
        element.ended = false;
        element.dispatch('play');
      } else if (name === 'pause' && !element.paused) {
        element.paused = true;
        element.dispatch('pause');
      } else if (name === 'ended') {
        element.paused = true;
        element.ended = true;
        element.dispatch('ended');
      }
    }
  };

  var inert = { sessionId: null, end: function () {}, flush: function () {}, detach: function () {} };

  /**
   * Tracks a Vimeo.Player. Options as FunctionsRelay.track; media.externalId defaults to the Vimeo video id,
   * media.url to https://vimeo.com/<id> and media.oembedUrl to Vimeo's own oEmbed endpoint, which HubSpot needs for a
   * video object (the id comes from getVideoId(), a promise: track before the viewer can press play). Returns the tracker;
   * detach() also stops following the player.
   */
  function trackVimeo(player, options) {
    try {
      var relay = root.FunctionsRelay;
      if (!relay || typeof relay.follow !== 'function') {
        warn('trackVimeo() needs relay-beacon.js loaded first');
        return inert;
      }
      if (!player || typeof player.on !== 'function' || typeof player.off !== 'function') {
        warn('trackVimeo() needs a Vimeo.Player');
        return inert;
      }
      var follower = new VimeoFollower(relay, player);
      var given = (options && options.media) || {};
      return relay.follow(follower.element, options || {}, function (media) {
        media.type = 'VIDEO';
        // What the page did not say of the media comes from the video, again for each video the player loads. The
        // tracker reads the media when a session starts: the id (a promise) fills it in before then.
        var describe = function (id) {
          if (!given.externalId && !given.mediaBridgeId) media.externalId = String(id);
          if (!given.url) media.url = 'https://vimeo.com/' + encodeURIComponent(String(id));
          if (!given.oembedUrl) media.oembedUrl = 'https://vimeo.com/api/oembed.json?url=' + encodeURIComponent(media.url);
        };
        follower.onNewVideo = describe;
        Promise.resolve(player.getVideoId()).then(function (id) {
          if (id) describe(id);
        }).then(null, function (error) { warn('could not read the Vimeo video id', error); });
      }, function () { follower.stop(); });
    } catch (error) {
      warn('could not track this Vimeo player', error);
      return inert;
    }
  }

  if (root.FunctionsRelay) root.FunctionsRelay.trackVimeo = trackVimeo;
  else warn('relay-vimeo.js needs relay-beacon.js loaded first');
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
