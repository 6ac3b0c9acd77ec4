"""Article texts of the loopback news site, written for these tests (fiction, no
published text). Each is a title and paragraphs; ``newssite`` wraps them in pages full
of boilerplate, and the extraction tests compare what comes back with these."""

from __future__ import annotations

ARTICLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": (
        "Lawmakers question the shopping link between Amazon and TikTok",
        (
            "A group of senators asked on Tuesday for a detailed account of how shoppers "
            "who watch short videos on TikTok are sent to Amazon product pages, and which "
            "data travels between the two companies when they buy.",
            "The letter, signed by members of both parties, says the arrangement could give "
            "a foreign-owned platform a view of purchase histories, delivery addresses and "
            "payment habits of millions of American households.",
            "Amazon said in a short statement that no customer data is shared beyond what a "
            "shopper agrees to when linking the two accounts, and that the integration was "
            "reviewed by its own privacy engineers before launch.",
            "TikTok pointed to its project for storing the data of American users on servers "
            "run by a domestic partner and said that the shopping feature follows the same "
            "rules as every other service inside the app.",
            "Merchants who sell through both platforms described the link as a quiet success. "
            "One seller of kitchen tools from Ohio said that a single viral clip had emptied "
            "her warehouse within a weekend last spring.",
            "Regulators have not said whether they will open an inquiry. The senators asked "
            "for answers within thirty days and for a briefing with both companies before the "
            "end of the session.",
        ),
    ),
    "de": (
        "Abgeordnete fragen nach der Einkaufsverbindung von Amazon und TikTok",
        (
            "Mehrere Abgeordnete des Bundestages verlangen Auskunft darüber, wie Nutzer von "
            "TikTok aus kurzen Videos direkt auf Produktseiten von Amazon gelangen und welche "
            "Daten dabei zwischen den beiden Unternehmen fließen.",
            "In einem gemeinsamen Schreiben heißt es, die Kooperation könne einer Plattform "
            "mit Eigentümern im Ausland Einblick in Kaufgewohnheiten, Lieferadressen und "
            "Zahlungsdaten vieler Haushalte verschaffen.",
            "Amazon erklärte auf Anfrage, es würden nur jene Angaben weitergegeben, denen "
            "Kundinnen und Kunden beim Verknüpfen der Konten ausdrücklich zustimmen, und die "
            "Anbindung sei vor dem Start intern geprüft worden.",
            "TikTok verwies auf seine Rechenzentren in Irland und Norwegen, in denen die Daten "
            "europäischer Nutzer gespeichert würden. Die Einkaufsfunktion unterliege denselben "
            "Regeln wie jeder andere Dienst der App.",
            "Händler, die über beide Plattformen verkaufen, berichten von deutlich höheren "
            "Umsätzen. Ein Anbieter von Gartenwerkzeug aus Franken sagte, ein einziges Video "
            "habe sein Lager innerhalb weniger Tage geleert.",
            "Ob die Bundesnetzagentur oder das Kartellamt ein Verfahren einleiten, ist offen. "
            "Die Abgeordneten erwarten eine Antwort binnen vier Wochen und eine Anhörung beider "
            "Konzerne im Ausschuss.",
        ),
    ),
    "fr": (
        "Des députés s'interrogent sur le lien commercial entre Amazon et TikTok",
        (
            "Plusieurs députés ont demandé mardi des explications sur la manière dont les "
            "utilisateurs de TikTok sont dirigés depuis de courtes vidéos vers les fiches "
            "produits d'Amazon, et sur les données échangées à cette occasion.",
            "Dans leur courrier, ils estiment que ce partenariat pourrait donner à une "
            "plateforme détenue à l'étranger un aperçu des achats, des adresses de livraison "
            "et des moyens de paiement de nombreux foyers.",
            "Amazon affirme que seules les informations acceptées par le client lors de la "
            "liaison des deux comptes sont transmises, et que l'intégration a été examinée par "
            "ses propres équipes avant son lancement.",
            "TikTok rappelle que les données des utilisateurs européens sont hébergées en "
            "Irlande et en Norvège, et que la fonction d'achat suit les mêmes règles que tous "
            "les autres services de l'application.",
            "Les commerçants présents sur les deux plateformes parlent d'un succès discret. Une "
            "vendeuse d'ustensiles de cuisine installée à Lyon raconte qu'une seule vidéo a "
            "vidé son stock en un week-end.",
            "La Commission nationale de l'informatique et des libertés n'a pas indiqué si elle "
            "ouvrirait une enquête. Les députés attendent une réponse sous un mois et une "
            "audition des deux groupes.",
        ),
    ),
    "es": (
        "Diputados cuestionan el vínculo comercial entre Amazon y TikTok",
        (
            "Un grupo de diputados pidió el martes explicaciones sobre cómo los usuarios de "
            "TikTok llegan desde vídeos cortos a las páginas de productos de Amazon y qué "
            "datos se intercambian entre ambas empresas durante la compra.",
            "En su carta advierten que el acuerdo podría dar a una plataforma de propiedad "
            "extranjera acceso a historiales de compra, direcciones de entrega y hábitos de "
            "pago de millones de hogares.",
            "Amazon aseguró que solo se comparten los datos que el cliente acepta al vincular "
            "las dos cuentas y que la integración fue revisada por sus propios ingenieros de "
            "privacidad antes del lanzamiento.",
            "TikTok recordó que los datos de los usuarios europeos se almacenan en Irlanda y "
            "Noruega y que la función de compras sigue las mismas normas que cualquier otro "
            "servicio de la aplicación.",
            "Los comerciantes que venden en ambas plataformas hablan de un éxito silencioso. Una "
            "vendedora de utensilios de cocina de Valencia contó que un solo vídeo vació su "
            "almacén en un fin de semana.",
            "La autoridad de competencia no ha dicho si abrirá una investigación. Los diputados "
            "esperan una respuesta en treinta días y una comparecencia de ambas compañías.",
        ),
    ),
    "it": (
        "I deputati chiedono chiarimenti sul legame commerciale tra Amazon e TikTok",
        (
            "Un gruppo di deputati ha chiesto martedì spiegazioni su come gli utenti di TikTok "
            "vengano indirizzati dai brevi video alle pagine dei prodotti di Amazon e su quali "
            "dati passino tra le due aziende durante l'acquisto.",
            "Nella lettera si sostiene che l'accordo potrebbe offrire a una piattaforma di "
            "proprietà straniera una visione degli acquisti, degli indirizzi di consegna e "
            "delle abitudini di pagamento di molte famiglie.",
            "Amazon ha dichiarato che vengono condivisi soltanto i dati che il cliente accetta "
            "quando collega i due account e che l'integrazione è stata esaminata dai propri "
            "tecnici prima del lancio.",
            "TikTok ha ricordato che i dati degli utenti europei sono conservati in Irlanda e "
            "in Norvegia e che la funzione di acquisto segue le stesse regole di ogni altro "
            "servizio dell'applicazione.",
            "I commercianti presenti su entrambe le piattaforme parlano di un successo "
            "silenzioso. Una venditrice di utensili da cucina di Bologna racconta che un solo "
            "video ha svuotato il suo magazzino in un fine settimana.",
            "L'autorità garante non ha detto se aprirà un'istruttoria. I deputati attendono una "
            "risposta entro trenta giorni e un'audizione delle due società.",
        ),
    ),
}

# Lines of boilerplate around every article: none may reach the stored text.
BOILERPLATE = (
    "Home",
    "Politics",
    "Business",
    "Technology",
    "Share on social media",
    "Send by e-mail",
    "Copy link",
    "Related articles",
    "Weather turns mild across the northern valleys this weekend",
    "City council approves a new cycling bridge over the river",
    "Local bakery wins the regional bread prize for the third time",
    "Comments",
    "I have been buying through these videos for months and never had a problem.",
    "Who reads the terms before clicking anyway? Nobody I know.",
    "We use cookies to improve your visit. Manage settings",
    "Loopback Times, all rights reserved. Imprint. Privacy. Contact.",
    "Subscribe to our newsletter",
)

PAYWALL_LEAD = (
    "The committee met behind closed doors on Monday to discuss the future of online "
    "marketplaces that reach shoppers through short videos."
)
CONSENT_TEXT = (
    "We value your privacy. We and our partners use cookies and similar technologies to "
    "store and access information on your device. Click accept to give your consent, or "
    "manage your choices. You can withdraw your consent at any time."
)
