"""The course in the browser: the guide, the lessons and their steps (course, views), and the
predictions a learner or a class makes before a run (predictions, class_predictions)."""
