"""The medical vocabulary that article titles, URLs and search queries are built from
(conditions by clinical area, interventions, populations, study types, journals)."""

from __future__ import annotations

# (condition, area) pairs; conditions feed both titles and queries.
CONDITIONS: dict[str, tuple[str, ...]] = {
    "Endocrinology": (
        "type 2 diabetes", "type 1 diabetes", "hypothyroidism", "hyperthyroidism",
        "obesity", "osteoporosis", "Cushing's syndrome", "diabetic ketoacidosis",
        "adrenal insufficiency", "primary hyperparathyroidism", "vitamin D deficiency",
        "subclinical hypothyroidism", "hypoglycaemia",
    ),
    "Pediatrics": (
        "bronchiolitis", "croup", "febrile seizures", "acute otitis media",
        "infantile colic", "neonatal jaundice", "ADHD", "autism spectrum disorder",
        "Kawasaki disease", "childhood obesity", "nocturnal enuresis", "fever in under 5s",
    ),
    "Gastroenterology": (
        "irritable bowel syndrome", "Crohn's disease", "ulcerative colitis",
        "gastro-oesophageal reflux disease", "coeliac disease", "Helicobacter pylori",
        "non-alcoholic fatty liver disease", "acute pancreatitis", "chronic constipation",
        "diverticulitis", "hepatitis C", "dyspepsia",
    ),
    "OB-Gyn": (
        "pre-eclampsia", "endometriosis", "postpartum haemorrhage", "preterm labour",
        "menopause", "hyperemesis gravidarum", "polycystic ovary syndrome",
        "heavy menstrual bleeding", "gestational diabetes", "induction of labour",
        "vulvovaginal candidiasis", "miscarriage",
    ),
    "Oncology": (
        "breast cancer", "prostate cancer", "lung cancer", "colorectal cancer", "melanoma",
        "ovarian cancer", "pancreatic cancer", "non-Hodgkin lymphoma",
        "cancer-related fatigue", "chemotherapy-induced nausea and vomiting",
    ),
    "Surgery": (
        "acute appendicitis", "inguinal hernia", "acute cholecystitis",
        "surgical site infection", "postoperative ileus", "bariatric surgery",
        "varicose veins", "abdominal aortic aneurysm",
    ),
    "Neurology": (
        "migraine", "epilepsy", "Parkinson's disease", "multiple sclerosis", "stroke",
        "dementia", "Bell's palsy", "restless legs syndrome", "trigeminal neuralgia",
        "Guillain-Barré syndrome", "transient ischaemic attack",
    ),
    "Infectious Disease": (
        "urinary tract infection", "community-acquired pneumonia", "cellulitis", "sepsis",
        "Lyme disease", "influenza", "HIV", "tuberculosis", "hepatitis A", "malaria",
        "Clostridium difficile infection", "herpes zoster",
    ),
    "Cardiology": (
        "atrial fibrillation", "heart failure", "hypertension", "acute coronary syndrome",
        "stable angina", "hyperlipidaemia", "infective endocarditis", "pericarditis",
        "deep vein thrombosis", "aortic stenosis",
    ),
    "Rheumatology": (
        "rheumatoid arthritis", "gout", "osteoarthritis", "polymyalgia rheumatica",
        "systemic lupus erythematosus", "ankylosing spondylitis", "fibromyalgia",
        "Sjögren's syndrome", "giant cell arteritis",
    ),
    "Psychiatry": (
        "depression", "generalised anxiety disorder", "schizophrenia", "bipolar disorder",
        "insomnia", "post-traumatic stress disorder", "alcohol dependence",
        "eating disorders",
    ),
    "Primary Care": (
        "low back pain", "common cold", "acute cough", "sore throat", "smoking cessation",
        "chronic fatigue syndrome",
    ),
    "Respiratory": (
        "asthma", "COPD", "bronchiectasis", "pulmonary embolism",
        "obstructive sleep apnoea", "idiopathic pulmonary fibrosis",
    ),
    "Dermatology": (
        "psoriasis", "atopic eczema", "acne vulgaris", "urticaria", "scabies", "rosacea",
    ),
    "Nephrology": (
        "chronic kidney disease", "acute kidney injury", "nephrotic syndrome",
        "hyperkalaemia",
    ),
    "Urology": (
        "benign prostatic hyperplasia", "renal colic", "overactive bladder",
        "erectile dysfunction", "urinary incontinence",
    ),
    "Ophthalmology": (
        "glaucoma", "cataract", "age-related macular degeneration", "conjunctivitis",
        "diabetic retinopathy",
    ),
    "ENT": ("tonsillitis", "acute sinusitis", "tinnitus", "Ménière's disease", "vertigo"),
    "Geriatrics": ("falls in older people", "delirium", "frailty", "polypharmacy"),
    "Hematology": (
        "iron deficiency anaemia", "sickle cell disease", "immune thrombocytopenia",
        "haemophilia",
    ),
    "Intensive Care": ("septic shock", "acute respiratory distress syndrome"),
    "Dentistry": ("dental caries", "periodontitis"),
    "Nursing": ("pressure ulcers", "chronic wounds"),
    "Pharmacy": ("drug interactions", "medication adherence"),
    "Orthopedics": (
        "hip fracture", "carpal tunnel syndrome", "ankle sprain", "frozen shoulder",
        "plantar fasciitis",
    ),
    "Radiology": ("contrast-induced nephropathy", "incidental pulmonary nodules"),
    "Anesthesiology": ("postoperative nausea and vomiting", "postoperative pain"),
    "Allergy & Immunology": ("anaphylaxis", "allergic rhinitis", "food allergy"),
    "Emergency Medicine": ("head injury", "acute chest pain", "cardiac arrest", "burns"),
    "Sports Medicine": ("concussion", "anterior cruciate ligament injury", "tendinopathy"),
    "Public Health": ("travel immunizations", "childhood vaccination", "cancer screening"),
}
CONDITION_LIST: tuple[str, ...] = tuple(c for cs in CONDITIONS.values() for c in cs)

INTERVENTIONS: tuple[str, ...] = (
    "metformin", "insulin", "statins", "aspirin", "amoxicillin", "corticosteroids",
    "inhaled corticosteroids", "physiotherapy", "cognitive behavioural therapy",
    "exercise therapy", "vitamin D supplementation", "acupuncture", "antidepressants",
    "proton pump inhibitors", "SGLT2 inhibitors", "probiotics", "direct oral anticoagulants",
    "warfarin", "beta blockers", "ACE inhibitors", "magnesium sulfate", "antibiotics",
    "paracetamol", "ibuprofen", "gabapentin", "melatonin", "zinc", "honey",
    "laparoscopic surgery", "telemonitoring", "self-management education",
    "compression stockings", "omega-3 fatty acids", "low-dose naltrexone",
    "topical NSAIDs", "tranexamic acid", "corticosteroid injection", "mindfulness",
)
POPULATIONS: tuple[str, ...] = (
    "adults", "children", "older people", "pregnant women", "primary care",
    "hospitalised patients", "adolescents", "infants", "people with diabetes",
)
ASPECTS: tuple[str, ...] = (
    "management", "diagnosis", "treatment", "prevention", "assessment and management",
    "scenario: management", "referral", "prognosis", "investigations", "follow-up",
)
STUDY_SUFFIXES: tuple[str, ...] = (
    "a randomised controlled trial", "systematic review and meta-analysis",
    "a cohort study", "a network meta-analysis", "a cluster randomised trial",
    "an economic evaluation",
)
JOURNALS: tuple[tuple[str, str], ...] = (
    # (DOI prefix pattern, URL host pattern)
    ("10.1016/j.amjmed", "http://www.sciencedirect.com/science/article/pii/S0002934"),
    ("10.1016/S0140-6736", "http://www.thelancet.com/journals/lancet/article/PIIS0140-6736"),
    ("10.1056/NEJMoa", "http://www.nejm.org/doi/full/10.1056/NEJMoa"),
    ("10.1001/jama", "http://jamanetwork.com/journals/jama/fullarticle/"),
    ("10.1186/s12875", "https://bmcprimcare.biomedcentral.com/articles/10.1186/s12875"),
    ("10.3399/bjgp", "http://bjgp.org/content/"),
)

