"""Every planted parameter of the synthetic population, in one nested dict (written to truth/params.json).

Sources are documented per parameter in docs/synthetic.md. Dates are ISO strings; rates are per
person-year; "lp" entries are logit-scale coefficients.
"""

from __future__ import annotations

import copy

CUTOFF = "2023-12-31"
REGISTER_START = "1975-01-01"  # first offence date the case register covers (OBJD-like coverage)

ORIGINS = ("NL", "MA", "TR", "SR", "AN", "other_western", "other_non_western")
GROUPS = ("non_offender", "low_rate", "early_peak", "late_peak", "high_rate")
OFFENDING_GROUPS = GROUPS[1:]
CATEGORIES = (
    "trafficking_sexual", "trafficking_labour", "sexual", "violence", "property", "drugs",
    "public_order", "traffic", "weapons", "fraud", "other",
)
GENERAL_CATEGORIES = CATEGORIES[2:]

DEFAULTS: dict = {
    "cutoff": CUTOFF,
    "register_start": REGISTER_START,
    "population": {
        # founder couples: birth year of the man, weights per 5-year band starting at the year
        "founder_birth_bands": [1925, 1930, 1935, 1940, 1945, 1950, 1955, 1960, 1965, 1970,
                                1975, 1980, 1985],
        "founder_birth_weights": [0.07, 0.11, 0.13, 0.14, 0.14, 0.13, 0.11, 0.08, 0.05, 0.03,
                                  0.01, 0.0, 0.0],
        "immigrant_founder_birth_weights": [0.02, 0.04, 0.06, 0.08, 0.10, 0.11, 0.11, 0.11,
                                            0.10, 0.09, 0.07, 0.06, 0.05],
        "founder_origin_shares": {"NL": 0.70, "MA": 0.016, "TR": 0.016, "SR": 0.016, "AN": 0.008,
                                  "other_western": 0.133, "other_non_western": 0.111},
        "immigrant_arrival_age": [18, 35],
        "partner_age_gap_mean": 2.0, "partner_age_gap_sd": 3.0,
        "first_union_age_women_mean": 26.0, "first_union_age_sd": 3.5,
        "union_probability": 0.80,                # a person born before 2001 ever forms a union
        "marriage_market_share": 1.0,             # unions between two registered persons
        "children_probs": [0.10, 0.14, 0.38, 0.23, 0.10, 0.05],   # 0..5 children per union
        "immigrant_extra_child_prob": 0.3,
        "separation_base_logit": -0.4,            # unions starting from 1975 on
        "separation_pre1975_logit": -2.6,
        "separation_propensity_lp": 0.7,          # per unit of mean parental propensity
        "separation_years_mean": 7.0,
        "repartner_prob": 0.45, "second_union_children_probs": [0.35, 0.40, 0.25],
        "same_origin_partner_prob": 0.75,
        "marriage_migration_prob": 0.5,           # non-NL partner of a 2nd-gen person is 1st gen
        "male_share_at_birth": 0.512,
        "gompertz_alpha": {"M": 3.0e-5, "F": 1.8e-5}, "gompertz_beta": 0.095,
        "mortality_propensity_lp": 0.15,
        "emigration_prob": {"none": 0.05, "first_generation": 0.28, "second_generation": 0.08},
        "filler_immigrants_share": 0.6,           # of the unattached persons
        "unattached_share": 0.02,                 # persons without registered family
        "persons_per_founder_couple": 9.0,        # first guess of lineage size (only speed)
    },
    "propensity": {
        # z_child = a + h * ((z_mother + z_father) / 2 - a) + s * family_shock + e * own_noise,
        # a = the family's origin anchor, e chosen so Var(z) = 1
        "parent_transmission_h": 0.9,
        "sibling_shared_sd": 0.45,
        "assortative_rho": 0.6,
        "founder_origin_shift": {"NL": 0.0, "MA": 0.9, "TR": 0.5, "SR": 0.7, "AN": 0.9,
                                 "other_western": 0.0, "other_non_western": 0.3},
    },
    "groups": {
        # risk index r = z + male*male + single_parent*sp + logistic noise * noise_scale;
        # groups by thresholds on r; the middle band splits into early_peak / late_peak.
        "male_lp": 0.45, "single_parent_lp": 0.45, "noise_scale": 0.25,
        "thresholds": [1.1, 2.2, 2.8],          # non|low, low|peak, peak|high
        "early_share_of_peak_band": 0.55,
        # yearly expected registered cases: peak * exp(-0.5 ((age - mode) / width)^2)
        "curves": {
            "low_rate": {"peak": 0.22, "mode": 27.0, "width": 16.0},
            "early_peak": {"peak": 0.95, "mode": 18.0, "width": 4.0},
            "late_peak": {"peak": 0.75, "mode": 31.0, "width": 6.0},
            "high_rate": {"peak": 1.6, "mode": 24.0, "width": 11.0},
        },
        "frailty_shape": 3.0,                      # gamma frailty, mean 1
        "family_frailty_sd": 0.8,                  # log-normal factor shared by siblings
        "female_rate_factor": 0.7,
        "max_age": 80,
    },
    "cases": {
        "category_probs": {"sexual": 0.02, "violence": 0.20, "property": 0.31, "drugs": 0.08,
                           "public_order": 0.12, "traffic": 0.11, "weapons": 0.04, "fraud": 0.06,
                           "other": 0.06},
        "target_category_probs": {"sexual": 0.03, "violence": 0.19, "property": 0.22,
                                  "drugs": 0.055, "public_order": 0.14, "traffic": 0.13,
                                  "weapons": 0.05, "fraud": 0.06, "other": 0.125},
        "outcome_probs": {"conviction": 0.62, "dismissal_policy": 0.23,
                          "dismissal_technical": 0.09, "acquittal": 0.06},
        "registration_lag_days_mean": 45, "disposal_lag_days_mean": 220,
        "trafficking_registration_lag_days_max": 300, "trafficking_disposal_lag_days_mean": 420,
        "articles": {"trafficking_sexual": "273f", "trafficking_labour": "273f", "sexual": "242",
                     "violence": "300", "property": "310", "drugs": "OW3", "public_order": "141",
                     "traffic": "WVW8", "weapons": "WWM26", "fraud": "326", "other": "other"},
        "severity": {"trafficking_sexual": 12.0, "trafficking_labour": 12.0, "sexual": 12.0,
                     "violence": 2.0, "property": 4.0, "drugs": 6.0, "public_order": 4.5,
                     "traffic": 3.0, "weapons": 4.0, "fraud": 4.0, "other": 1.0},
    },
    # the real scale: about 630 DSE offenders (2008-2017) among about 17 million registered
    # persons; a synthetic population of N persons samples offenders at
    # (offenders / N) / (630 / 17e6) times that rate (truth: realised.offender_sampling_factor)
    "netherlands": {"persons": 17_000_000, "offenders": 630},
    "targets": {
        "route_shares": {"early_starter": 0.85, "atypical": 0.15},
        # candidate index age (registration of the index case): early starters a young mode
        # min + gamma(shape, scale) with probability young_share, else N(old_mean, old_sd) >= 24
        "early_index_young_share": 0.57,
        "early_index_age_min": 17.5, "early_index_age_shape": 2.0, "early_index_age_scale": 2.3,
        "early_index_old_mean": 38.0, "early_index_old_sd": 7.0,
        "atypical_index_age_mean": 40.0, "atypical_index_age_sd": 8.0,
        "period": ["2008-01-01", "2017-12-31"],
        # risk of becoming a target, per route: g = sigmoid(intercept + lp) with these fixed
        # coefficients; the planted probability is scale x g, the scale solved per chunk so that
        # E[count] = offenders (thinning: the profile is the same at every size; see
        # docs/synthetic.md). Calibrated with benchmarks/calibrate_targets.py (scale 0.8 at 200k).
        "early_lp": {"propensity": 0.87, "male": 4.95, "migration": 3.06, "big4": -0.33,
                     "single_parent": 3.27, "no_startkwalificatie": 2.04,
                     "criminal_family": 2.09, "youth_care": 2.26},
        "atypical_lp": {"propensity": 0.98, "male": 0.2, "migration": 2.18, "big4": 0.0,
                        "single_parent": 1.54, "no_startkwalificatie": 1.78,
                        "criminal_family": 1.95, "youth_care": 1.12},
        "intercepts": {"early": -14.01, "atypical": -10.52},
        # trajectory groups among target offenders, per route
        "early_group_shares": {"low_rate": 0.25, "early_peak": 0.30, "late_peak": 0.20,
                               "high_rate": 0.25},
        "atypical_group_shares": {"low_rate": 0.85, "late_peak": 0.15},
        "rate_multiplier": 1.6,                   # target careers: group curve x this
        "group_rate_multipliers": {"low_rate": 0.36},  # and x this per group (default 1)
        "post_index_multiplier": 0.28,             # general offending in the first years after
        "post_index_years": 3.0,                   # the index case: curve x this, for these years
        "post_index_floor_rate": 0.0,              # added yearly rate after the index case
        "desistance_prob": 0.0,                    # no general offending after the index case
        "frailty_shape": 6.0,                      # target careers: less dispersed
        "index_outcome_probs": {"conviction": 0.82, "dismissal_policy": 0.18},
        "parallel_trafficking_prob": 0.12,         # second trafficking case before disposal
        "later_trafficking_rate": 0.022,           # per year after disposal
        "decoys_per_offender": 0.6,
        "decoy_type_shares": {"acquittal": 0.2, "dismissal_technical": 0.15,
                              "cross_border": 0.25, "outside_period": 0.25, "labour": 0.15},
    },
    "education": {
        "first_cohort": 1955,
        "ability_propensity": 0.9,
        # by trajectory group (non, low, early, late, high): offending disrupts school
        "ability_group_penalty": [0.0, 1.35, 1.2, 1.0, 1.4],
        "ability_migration": 0.35, "ability_single_parent": 0.35,
        # cumulative population shares of the highest level (ordered)
        "level_order": ["primary", "vmbo", "mbo1", "mbo2", "mbo3", "mbo4", "havo", "vwo",
                        "hbo", "wo"],
        "level_cum_shares": [0.02, 0.07, 0.085, 0.22, 0.35, 0.52, 0.60, 0.66, 0.86, 1.0],
        "delay_base": 0.25, "delay_propensity": 0.45,
    },
    "youth_care": {
        "first_cohort": 1975, "base_logit": -3.3, "propensity_lp": 0.9, "single_parent_lp": 0.9,
        "measure_probs": {"supervision_order": 0.4, "guardianship": 0.08,
                          "residential_care": 0.22, "other": 0.30},
        "youth_probation_prob": 0.3,
    },
    "detention": {"prob_by_severity_ge4": 0.15, "prob_trafficking": 0.6,
                  "months_mean": {"general": 4.0, "trafficking": 24.0}},
    "probation": {
        "first_registration_year": 2005,
        "request_prob_by_year": {"2005": 0.55, "2008": 0.6, "2011": 0.68, "2014": 0.76,
                                 "2017": 0.84, "2020": 0.9, "2023": 0.92},
        "trafficking_request_bonus": 0.05,
        "delivered_prob_by_year": {"2005": 0.80, "2014": 0.88, "2023": 0.95},
        "advice_probs": {"supervision": 0.45, "treatment": 0.2, "no_intervention": 0.25,
                         "other": 0.1},
    },
    "network": {
        "neighbourhood_size": 400, "neighbourhood_sorting_sd": 1.0,
        "neighbours_per_person": 1.5, "classmates_per_person": 2.0,
        "colleagues_per_person": 1.5, "school_first_cohort": 1975,
        "school_size": 4,                          # neighbourhoods per school
        "workplace_size": 60,
    },
}


def log_rate_polynomials(P: dict) -> dict[str, list[float]]:
    """Each group curve as log-rate polynomial coefficients [c0, c1, c2] in age (years):
    log(peak) - ((age - mode) / width)^2 / 2 = c0 + c1 age + c2 age^2."""
    out = {}
    for g, c in P["groups"]["curves"].items():
        import math

        w2 = c["width"] ** 2
        out[g] = [math.log(c["peak"]) - c["mode"] ** 2 / (2 * w2), c["mode"] / w2, -1 / (2 * w2)]
    return out


def default_params() -> dict:
    """A deep copy of the planted parameters (so callers may change them safely)."""
    return copy.deepcopy(DEFAULTS)
