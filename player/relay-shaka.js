/*!
 * FunctionsRelay Shaka Player helper: follows the media element a shaka.Player plays into with the tracker of
 * relay-beacon.js (load it first), and tells the tracker what only Shaka knows: the asset's URL (the element's own
 * source is a blob: of Media Source Extensions) and whether it is live.
 *
 *   var player = new shaka.Player();
 *   var tracker = FunctionsRelay.trackShaka(player, { endpoint: ..., portalId: ..., key: ..., media: { externalId: ... } });
 *   await player.attach(video); await player.load(url);
 *
 * Shaka Player's API (github.com/shaka-project/shaka-player, lib/player.js): 'onstatechange' with state 'attach' or
 * 'detach' says which element it plays into (getMediaElement(), set just after 'attach'); 'loading' says a new asset (getAssetUri() is set by
 * then); 'loaded' says it is ready, and isLive() whether it is live. destroy() detaches, which ends the session. A live
 * session sends media.live: true and no duration, so the relay sends it a played event only. Never throws into the page.
 */
(function (root) {
  'use strict';

  function warn(message, error) {
    try {
      if (root.console && root.console.warn) root.console.warn('[FunctionsRelay] ' + message, error || '');
    } catch (ignored) { /* nothing to do */ }
  }

  var inert = { sessionId: null, end: function () {}, flush: function () {}, detach: function () {} };

  /**
   * Tracks what a Shaka player plays. Options as FunctionsRelay.track; media.url defaults to the asset's https URL and
   * media.live to isLive(). The element is the one the player is attached to, now or later. Returns a handle like the
   * tracker's; detach() also stops following the player.
   */
  function trackShaka(player, options) {
    try {
      var relay = root.FunctionsRelay;
      if (!relay || typeof relay.followAttached !== 'function') {
        warn('trackShaka() needs relay-beacon.js loaded first');
        return inert;
      }
      if (!player || typeof player.addEventListener !== 'function' || typeof player.getMediaElement !== 'function') {
        warn('trackShaka() needs a shaka.Player');
        return inert;
      }
      var read = function (name) {
        try { return typeof player[name] === 'function' ? player[name]() : null; } catch (ignored) { return null; }
      };
      var absolute = function (uri) {
        try { return uri ? new URL(uri, root.location && root.location.href).href : null; } catch (ignored) { return uri; }
      };
      var url = absolute(read('getAssetUri'));
      var live = url ? !!read('isLive') : undefined;
      var followed = relay.followAttached(options || {}, function () { return { url: url, live: live }; }, {
        name: 'the Shaka player',
        on: function (type, listener) { player.addEventListener(type, listener); },
        off: function (type, listener) { player.removeEventListener(type, listener); }
      });
      var on = function (type, handler) { followed.on(type, function (event) { handler(event || {}); }); };

      var attach = function () { followed.attach(read('getMediaElement')); };
      on('onstatechange', function (event) {
        // Shaka says 'attach' just before it takes the element: it is the player's once this task has run.
        if (event.state === 'attach') Promise.resolve().then(attach).catch(function (error) { warn('could not follow the Shaka player (attach)', error); });
        else if (event.state === 'detach') followed.release();
      });
      on('loading', function () {
        attach();
        // Another asset into the same element: the next play is a new session.
        var next = absolute(read('getAssetUri'));
        if (url && next !== url) followed.handle.end();
        url = next;
        live = undefined;
        followed.refresh();
      });
      on('loaded', function () {
        live = !!read('isLive');
        followed.refresh();
      });
      attach();
      return followed.handle;
    } catch (error) {
      warn('could not track this Shaka player', error);
      return inert;
    }
  }

  if (root.FunctionsRelay) root.FunctionsRelay.trackShaka = trackShaka;
  else warn('relay-shaka.js needs relay-beacon.js loaded first');
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
