/*!
 * FunctionsRelay hls.js helper: follows the media element an hls.js instance plays into with the tracker of
 * relay-beacon.js (load it first), and tells the tracker what only hls.js knows: whether the stream is live, and its
 * URL (the element's own source is a blob: of Media Source Extensions).
 *
 *   var hls = new Hls(); hls.loadSource(url); hls.attachMedia(video);
 *   var tracker = FunctionsRelay.trackHls(hls, { endpoint: ..., portalId: ..., key: ..., media: { externalId: ... } });
 *
 * hls.js's API (github.com/video-dev/hls.js, docs/API.md): LEVEL_LOADED's details.live says a playlist is live (no
 * EXT-X-ENDLIST); MEDIA_ATTACHED / MEDIA_DETACHING say which element it plays into; MANIFEST_LOADING says a new source;
 * DESTROYING ends it. A live session sends media.live: true and no duration, so the relay sends it a played event only;
 * seeks back in a live stream's window (DVR) are the element's own seeks, sent as seek beacons. Never throws into the page.
 */
(function (root) {
  'use strict';

  function warn(message, error) {
    try {
      if (root.console && root.console.warn) root.console.warn('[FunctionsRelay] ' + message, error || '');
    } catch (ignored) { /* nothing to do */ }
  }

  /** hls.js's event names (Hls.Events), as the library publishes them. */
  function events(hls) {
    var published = (hls.constructor && hls.constructor.Events) || (root.Hls && root.Hls.Events) || {};
    return {
      attached: published.MEDIA_ATTACHED || 'hlsMediaAttached',
      detaching: published.MEDIA_DETACHING || 'hlsMediaDetaching',
      manifestLoading: published.MANIFEST_LOADING || 'hlsManifestLoading',
      levelLoaded: published.LEVEL_LOADED || 'hlsLevelLoaded',
      destroying: published.DESTROYING || 'hlsDestroying'
    };
  }

  var inert = { sessionId: null, end: function () {}, flush: function () {}, detach: function () {} };

  /**
   * Tracks what an hls.js instance plays. Options as FunctionsRelay.track; media.url defaults to the stream's https
   * URL and media.live to what its playlist says. The element is hls.media, or the one it is attached to later.
   * Returns a handle like the tracker's; detach() also stops following hls.js.
   */
  function trackHls(hls, options) {
    try {
      var relay = root.FunctionsRelay;
      if (!relay || typeof relay.followAttached !== 'function') {
        warn('trackHls() needs relay-beacon.js loaded first');
        return inert;
      }
      if (!hls || typeof hls.on !== 'function' || typeof hls.off !== 'function') {
        warn('trackHls() needs an Hls instance');
        return inert;
      }
      var names = events(hls);
      var url = hls.url || null;
      var live;
      var followed = relay.followAttached(options || {}, function () { return { url: url, live: live }; }, {
        name: 'hls.js',
        on: function (name, listener) { hls.on(name, listener); },
        off: function (name, listener) { hls.off(name, listener); }
      });
      // hls.js calls its listeners with the event's name and its data.
      var on = function (name, handler) { followed.on(name, function (event, data) { handler(data || {}); }); };

      on(names.levelLoaded, function (data) {
        live = !!(data.details && data.details.live);
        followed.refresh();
      });
      on(names.manifestLoading, function (data) {
        // Another stream into the same element: the next play is a new session.
        if (data.url && data.url !== url) followed.handle.end();
        url = data.url || url;
        live = undefined;
        followed.refresh();
      });
      on(names.attached, function (data) { followed.attach(data.media); });
      on(names.detaching, followed.release);
      on(names.destroying, followed.handle.detach);
      followed.attach(hls.media);
      return followed.handle;
    } catch (error) {
      warn('could not track this hls.js player', error);
      return inert;
    }
  }

  if (root.FunctionsRelay) root.FunctionsRelay.trackHls = trackHls;
  else warn('relay-hls.js needs relay-beacon.js loaded first');
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
