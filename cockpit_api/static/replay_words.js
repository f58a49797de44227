"use strict";
// The replay bar's words (replay.js), zh-CN and en, added to the page's one vocabulary
// (words.js I18N): the session's mark, its controls, and why a control or a command was
// refused (cockpit_api/replay/controls.py codes, why_).
Object.assign(I18N.zh, {
  replayMark: "回放", exerciseMark: "演练", replayWindow: "时段 {from} 至 {to}（{tz}）",
  replayAt: "回放时间 {t}", exerciseAt: "演练时间 {t}", replayPlay: "播放", replayPause: "暂停",
  replayStop: "结束", replaySpeed: "倍速", speedMax: "最快", replayEnded: "（已播完）",
  replayPaused: "（已暂停）", replayStopped: "（已结束）", replaySlider: "回放时间轴",
  act_replay: "回放控制", feed_replay: "历史回放", feed_exercise: "演练",
  why_replay_read_only: "这是历史回放：已经发生的事不能更改，指令未执行",
  why_not_replay: "这是实时指挥页面，没有可以控制的回放",
  why_outside_window: "所选时间不在本次回放的时段内",
  why_exercise_no_rewind: "演练只能向前推进，不能倒回",
  why_bad_speed: "倍速无效",
});
Object.assign(I18N.en, {
  replayMark: "Replay", exerciseMark: "Exercise", replayWindow: "Window {from} to {to} ({tz})",
  replayAt: "Replay time {t}", exerciseAt: "Exercise time {t}", replayPlay: "Play",
  replayPause: "Pause", replayStop: "End", replaySpeed: "Speed", speedMax: "Max",
  replayEnded: "(finished)", replayPaused: "(paused)", replayStopped: "(ended)",
  replaySlider: "Replay timeline", act_replay: "Replay control", feed_replay: "Replay of history",
  feed_exercise: "Exercise",
  why_replay_read_only: "This is a replay of what happened: it cannot be changed, the command was not carried out",
  why_not_replay: "This cockpit shows live operations: there is no replay to control",
  why_outside_window: "That time is outside this replay's window",
  why_exercise_no_rewind: "An exercise only runs forward: it cannot go back",
  why_bad_speed: "Not a valid speed",
});
