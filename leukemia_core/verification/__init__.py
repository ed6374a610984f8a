"""Verification at a lab (issue 17): a site verification study and a site calibration.

* :mod:`.stats`: Wilson intervals, a bootstrap interval for ROC AUC, cells needed for a target width;
* :mod:`.study`: the lab's labelled images in, every model's figures out, grouped fit/report splits;
* :mod:`.profile`: the lab's own calibrator, thresholds and colour reference as a named site profile;
* :mod:`.report`: the study as JSON, CSV and a printable HTML report;
* :mod:`.kshot`: how a profile fitted on k images per class of a lab does on the rest of that lab.
"""
