"""Reading what ``model_weights/`` holds, for the dashboard (no Streamlit here), one concern per module.

* :mod:`.files`: the weights folder, the models offered, the JSON loaders (manifest, history,
  report, reference, bench, CAM check) and how to make a missing file;
* :mod:`.sets`: the sets of a report (roles, levels, order, labels, stored probabilities);
* :mod:`.thresholds`: thresholds, field rule, refer band and calibration of a report;
* :mod:`.scores`: metrics tables, accuracy by role, published reference figures, ROC points,
  metrics recomputed at another threshold;
* :mod:`.facts`: model facts from manifests, per-model tables of bench and CAM-check files;
* :mod:`.display`: tables and bar values for people (human names, units, no ``NaN`` shown);
* :mod:`.dataset_images`: finding the dataset images a report names;
* :mod:`.inputs`: images given to the Classify page (in memory, decoded, shrunk for display);
* :mod:`.casereport`: the HTML case report of one Classify run.

Import from the submodule that holds a name.
"""
