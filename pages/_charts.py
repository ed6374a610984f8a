"""Charts several pages draw: the reliability diagram of a model's calibration."""

from __future__ import annotations

import streamlit as st

from leukemia_core.models.card import report_thresholds

#: Plotly's options for every chart of the app (no Plotly logo in the tool bar).
PLOT_CONFIG = {"displaylogo": False}


def reliability_chart(report: dict, name: str, key: str) -> bool:
    """Plotly reliability diagram of ``report``'s calibration (validation cells, before and after),
    with the threshold and the refer band; False (nothing drawn) when the model is not calibrated."""
    import plotly.graph_objects as go

    from leukemia_core.reports.thresholds import calibration_of, refer_band, reliability_frame

    cal = calibration_of(report)
    bins = reliability_frame({name: report})
    if cal is None or bins.empty:
        return False
    info = cal.get("info") or {}
    fig = go.Figure()
    band = refer_band(report)
    if band:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="#f2c14e", opacity=0.25, line_width=0,
                      annotation_text="refer band", annotation_position="top left")
    thr = report_thresholds(report).threshold
    fig.add_vline(x=thr, line_dash="dot", line_color="#555", annotation_text=f"threshold {thr:.2f}",
                  annotation_position="bottom right")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"color": "grey", "dash": "dash"}))
    styles = {"before calibration": ("#e07b39", "ece_before"), "after calibration": ("#1f5f8b", "ece_after")}
    for stage, part in bins.groupby("stage", sort=False):
        colour, field = styles.get(stage, ("#333", ""))
        ece = info.get(field)
        fig.add_trace(go.Scatter(
            x=part["mean P(ALL)"], y=part["observed ALL share"], mode="lines+markers",
            name=f"{stage} (ECE {ece:.3f})" if ece is not None else stage, line={"color": colour},
            marker={"size": 6 + 20 * part["weight"].fillna(0).to_numpy()}, customdata=part[["cells"]].to_numpy(),
            hovertemplate="mean P(ALL) %{x:.2f}, observed ALL share %{y:.2f}, %{customdata[0]} cells"
                          "<extra>" + stage + "</extra>"))
    fig.update_layout(xaxis_title="predicted P(ALL) (bin mean)", yaxis_title="observed share of ALL cells",
                      xaxis_range=[0, 1], yaxis_range=[0, 1.02], height=420, margin={"t": 30})
    st.plotly_chart(fig, key=key, config=PLOT_CONFIG)
    return True
